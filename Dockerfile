# Build: compile TypeScript with the full toolchain, then keep production dependencies only.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the image has its Node already; the `node` dev dependency need not install one.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
COPY bench ./bench
RUN npx nest build && npm prune --omit=dev --ignore-scripts

# Run: a small Node 24 image without shell or package manager, as a non-root user.
FROM gcr.io/distroless/nodejs24-debian12:nonroot
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
USER 65532:65532
EXPOSE 8080 8081
# node itself is PID 1's program (the image's entrypoint), so SIGTERM reaches the app directly.
CMD ["dist/src/main.js"]
