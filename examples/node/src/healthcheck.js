// Exits 0 when the running server answers 200 on /healthz: the image's
// HEALTHCHECK, for a runtime without curl or a shell.
'use strict';

const http = require('http');

const host = process.env.HOST === '0.0.0.0' ? '127.0.0.1' : process.env.HOST || '127.0.0.1';
const req = http.get({ host, port: Number(process.env.PORT || 8080), path: '/healthz', timeout: 3000 }, (res) =>
  process.exit(res.statusCode === 200 ? 0 : 1),
);
req.on('error', () => process.exit(1));
req.on('timeout', () => req.destroy());
