# syntax=docker/dockerfile:1

# Build: every dependency, the Prisma client generated, TypeScript compiled.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json prisma.config.ts ./
COPY prisma ./prisma
# npm ci runs the postinstall script: `prisma generate`, which needs some DATABASE_URL (it reads nothing from it).
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Production dependencies only (the Prisma CLI among them: it applies migrations at start).
FROM node:24-bookworm-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# Runtime: compiled code, production dependencies, migrations; no compiler, no dev tools.
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/app/data
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json prisma.config.ts ./
COPY prisma ./prisma
# Without DATABASE_URL the service keeps an embedded database here; it must belong to the service's user (node, uid 1000).
RUN mkdir -p data && chown 1000:1000 data
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node itself as PID 1 receives SIGTERM (npm would not pass it on); server.js applies pending migrations, then serves.
# The same V8 flags as npm start (README, "Memory": they bound the heap under load).
CMD ["node", "--max-semi-space-size=8", "--heap-growing-percent=100", "dist/server.js"]
