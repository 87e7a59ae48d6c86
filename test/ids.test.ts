import { describe, expect, it } from 'vitest';
import { newAsyncActionId, newCustomerId, newRequestId } from '../src/ids.js';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

describe('ids', () => {
  it('makes customer ids of cust_ and 24 alphanumerics, all distinct', () => {
    const ids = Array.from({ length: 10_000 }, newCustomerId);
    for (const id of ids) expect(id).toMatch(/^cust_[A-Za-z0-9]{24}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('makes request ids of v- and 18 lowercase hex digits', () => {
    expect(newRequestId()).toMatch(/^v-[0-9a-f]{18}$/);
  });

  it('makes async action ids of aa_ and 18 lowercase hex digits, all distinct', () => {
    const ids = Array.from({ length: 10_000 }, newAsyncActionId);
    for (const id of ids) expect(id).toMatch(/^aa_[0-9a-f]{18}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('draws every character equally often: no modulo bias', () => {
    // 240,000 characters. Taking random bytes modulo 62 would make the first 8 characters
    // 25% likelier than the rest, a chi-square in the thousands. An unbiased draw gives
    // about 61; 130 is above the 99.9999th percentile of chi-square with 61 degrees of freedom.
    const counts = new Map<string, number>();
    for (let index = 0; index < 10_000; index += 1) {
      for (const character of newCustomerId().slice(5)) counts.set(character, (counts.get(character) ?? 0) + 1);
    }
    const expected = (10_000 * 24) / ALPHABET.length;
    const chiSquare = [...ALPHABET].reduce(
      (sum, character) => sum + ((counts.get(character) ?? 0) - expected) ** 2 / expected,
      0,
    );
    expect(counts.size).toBe(62);
    expect(chiSquare).toBeLessThan(130);
  });
});

describe('hex ids', () => {
  it('draw every hex digit equally often', () => {
    const counts = new Map<string, number>();
    for (let index = 0; index < 20_000; index += 1) {
      for (const digit of newRequestId().slice(2)) counts.set(digit, (counts.get(digit) ?? 0) + 1);
    }
    const expected = (20_000 * 18) / 16;
    const chiSquare = [...counts.values()].reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0);
    expect(counts.size).toBe(16);
    // 15 degrees of freedom: 60 is far beyond the 99.9999th percentile.
    expect(chiSquare).toBeLessThan(60);
  });
});
