import type { AddressInfo } from 'node:net';
import { VoucherifyServerSide } from '@voucherify/sdk';
import { APP_ID, APP_SECRET, type TestApp } from './app.js';

export type SdkClient = ReturnType<typeof VoucherifyServerSide>;

/** The test's app listening on a free port, and the official SDK's client of it, unchanged. */
export async function sdkClient(test: TestApp): Promise<SdkClient> {
  await test.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = test.app.server.address() as AddressInfo;
  return VoucherifyServerSide({ applicationId: APP_ID, secretKey: APP_SECRET, apiUrl: `http://127.0.0.1:${port}` });
}
