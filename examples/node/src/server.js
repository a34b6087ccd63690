// The Node.js example's HTTP service: GET /api/info answers JSON about the
// service, GET /healthz answers {"status":"ok"}. HOST (default 0.0.0.0)
// and PORT (default 8080) choose the address.
'use strict';

const express = require('express');

const started = Date.now();

function createApp() {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => res.json({ status: 'ok' }));
  app.get('/api/info', (_req, res) =>
    res.json({
      service: 'node-example',
      language: 'node',
      version: process.version,
      express: require('express/package.json').version,
      uid: process.getuid(),
      uptime_s: Math.floor((Date.now() - started) / 1000),
    }),
  );
  return app;
}

if (require.main === module) {
  const host = process.env.HOST || '0.0.0.0';
  const port = Number(process.env.PORT || 8080);
  const server = createApp().listen(port, host, () =>
    console.log(`node-example listening on ${host}:${port}`),
  );
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => server.close(() => process.exit(0)));
  }
}

module.exports = { createApp };
