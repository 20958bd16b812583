// Drives `leakdrill serve` with the unmodified jsforce client.
// Usage: node jsforce_check.js STATE_DIR   (NODE_EXTRA_CA_CERTS must point at ca.pem)
// Prints one line per check; exits non-zero on the first failure.
'use strict';
const fs = require('fs');
const jsforce = require('jsforce');

const state = JSON.parse(fs.readFileSync(`${process.argv[2]}/serve.json`, 'utf8'));
const user = (p) => state.users.find((u) => u.username.startsWith(p));

function check(name, cond, detail) {
  console.log(`${cond ? 'ok  ' : 'FAIL'} ${name}${detail !== undefined ? `: ${detail}` : ''}`);
  if (!cond) process.exit(1);
}

(async () => {
  // SOAP login (jsforce's default without OAuth client settings).
  const etl = user('etl.integration');
  const conn = new jsforce.Connection({ loginUrl: state.login_url, version: '59.0' });
  const info = await conn.login(etl.username, etl.password + etl.security_token);
  check('soap login', info.organizationId === state.org_id && conn.instanceUrl === state.instance_url, conn.instanceUrl);

  // Query with auto-fetch across queryMore pages.
  const res = await conn.query('SELECT Id, Email FROM Contact').run({ autoFetch: true, maxFetch: 10000 });
  check('query autoFetch', res.records.length === res.totalSize && res.totalSize > 2000, `${res.records.length}/${res.totalSize}`);

  // describe
  const d = await conn.sobject('Contact').describe();
  check('describe', d.fields.some((f) => f.name === 'SSN__c') && d.keyPrefix === '003');

  // Bulk API 2.0 query
  const bulk = await conn.bulk2.query('SELECT Id, Email FROM Contact');
  const rows = Array.isArray(bulk) ? bulk : await bulk.toArray();
  check('bulk2 query', rows.length === res.totalSize, `${rows.length}`);

  // create / retrieve arrays (sObject collections) as a user allowed to create.
  const cb = user('corebanking.sync');
  const c2 = new jsforce.Connection({ loginUrl: state.login_url, version: '59.0' });
  await c2.login(cb.username, cb.password + cb.security_token);
  const created = await c2.sobject('FinancialAccount__c').create([
    { Account_Type__c: 'Brokerage', Balance__c: 1000 },
    { Account_Type__c: 'Trust', Balance__c: 2000 },
  ]);
  check('create array', created.length === 2 && created.every((r) => r.success && r.id.startsWith('a0F')), JSON.stringify(created));
  const got = await c2.sobject('FinancialAccount__c').retrieve(created.map((r) => r.id));
  check('retrieve array', got.length === 2 && got[1].Account_Type__c === 'Trust' && got[1].Balance__c === 2000, JSON.stringify(got[1]));

  // Least privilege: the core-banking user cannot see Contact SSNs.
  try {
    await c2.query('SELECT Id, SSN__c FROM Contact');
    check('INVALID_FIELD', false, 'query succeeded');
  } catch (e) {
    check('INVALID_FIELD', e.errorCode === 'INVALID_FIELD' || e.name === 'INVALID_FIELD', `${e.name}: ${e.errorCode}`);
  }

  // Logout revokes the session; the token then fails.
  const token = c2.accessToken;
  await c2.logout();
  const stale = new jsforce.Connection({ instanceUrl: state.instance_url, accessToken: token, version: '59.0' });
  try {
    await stale.query('SELECT Id FROM FinancialAccount__c LIMIT 1');
    check('token dead after logout', false, 'query succeeded');
  } catch (e) {
    check('token dead after logout', e.errorCode === 'INVALID_SESSION_ID' || e.name === 'INVALID_SESSION_ID', `${e.name}`);
  }
  console.log('jsforce: all checks passed');
})().catch((e) => {
  console.log(`FAIL unexpected error: ${e.name}: ${e.message}`);
  process.exit(1);
});
