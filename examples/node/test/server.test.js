'use strict';

const test = require('node:test');
const assert = require('node:assert');
const request = require('supertest');
const { createApp } = require('../src/server');

test('GET /healthz', async () => {
  const res = await request(createApp()).get('/healthz').expect(200);
  assert.deepStrictEqual(res.body, { status: 'ok' });
});

test('GET /api/info', async () => {
  const res = await request(createApp()).get('/api/info').expect(200);
  assert.strictEqual(res.body.service, 'node-example');
});
