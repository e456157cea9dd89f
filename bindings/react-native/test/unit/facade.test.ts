// The facade over a faked native module: what VideoUploader's calls turn into, the progress
// throttle, error mapping, the AsyncStorage import, and the auth / AppState / NetInfo wiring.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  UploadMonitor,
  UploadMonitorError,
  isOffline,
  isRuleViolation,
  isTimeout,
  isUploadMonitorError,
  toMonitorError,
  errorCode,
  type LogEntry,
  type StartOptions,
} from '../../src/facade/index';
import { FakeAuth, FakeSdk, fakePlatform, reporterError, tick } from './fakes';

const URL = 'https://xyz.supabase.co';

function options(auth: FakeAuth, extra: Partial<StartOptions> = {}): StartOptions {
  return { supabaseUrl: URL, anonKey: 'anon', auth, ...extra };
}

async function started(extra: Partial<StartOptions> = {}, auth = new FakeAuth({ access_token: 'jwt-1' })) {
  const sdk = new FakeSdk();
  const env = fakePlatform();
  const errors: UploadMonitorError[] = [];
  const monitor = await UploadMonitor.startWith(sdk, env.platform, options(auth, { onError: (e) => errors.push(e), ...extra }));
  return { sdk, env, monitor, auth, errors, reporter: sdk.reporter };
}

test('start opens the SDK with the session token and the documents database path', async () => {
  const { sdk, reporter } = await started();
  assert.deepEqual(sdk.configs[0], {
    supabaseUrl: URL,
    anonKey: 'anon',
    databasePath: '/data/user/0/app/files/upload-monitor.sqlite',
  });
  assert.equal(reporter.accessToken, 'jwt-1');
});

test('begin takes numbers and objects and hands the SDK bigints and JSON', async () => {
  const { monitor, reporter } = await started();
  const up = monitor.begin({
    localId: 'import_1732438800000_0',
    filename: 'IMG_0001.MOV',
    title: 'Vacances',
    fileSize: 10_485_760,
    source: 'imported',
    metadata: { duration: 42, isRecorded: false },
  });
  assert.ok(up.id);
  assert.deepEqual(reporter.named('beginUpload')[0], [
    'beginUpload',
    'import_1732438800000_0',
    'Vacances',
    'IMG_0001.MOV',
    10_485_760n,
    1,
    '{"duration":42,"isRecorded":false}',
  ]);
});

test('progress is throttled per upload, the last byte always goes and held progress precedes a stage', async () => {
  const { monitor, reporter, env } = await started({ progressIntervalMs: 250 });
  const up = monitor.begin({ localId: 'a', filename: 'a.mov' });
  for (let sent = 0; sent <= 1000; sent += 10) {
    up.progress(sent, 1000);
    env.clock.advance(10); // 100 callbacks over 1 s
  }
  const progress = reporter.named('reportProgress');
  assert.ok(progress.length <= 6, `${progress.length} native calls for 100 callbacks`);
  assert.deepEqual(progress[progress.length - 1]?.slice(2), [1000n, 1000n], 'the last byte is reported');

  const second = monitor.begin({ localId: 'b', filename: 'b.mov' });
  second.progress(100, 1000);
  second.progress(200, 1000); // held: within 250 ms
  second.stage('creating_record');
  const calls = reporter.calls.filter((c) => c[1] === second.id).map((c) => c[0]);
  assert.deepEqual(calls, ['reportProgress', 'reportProgress', 'reportStage']);
});

test('the progress path never throws, whatever the SDK or the numbers say', async () => {
  const { monitor, reporter, errors } = await started();
  const up = monitor.begin({ localId: 'a', filename: 'a.mov' });
  reporter.throwOn.set('reportProgress', reporterError('Rejected', { rule: 8, detail: 'progress above the total' }));
  assert.doesNotThrow(() => up.progress(2000, 1000));
  assert.doesNotThrow(() => up.progress(Number.NaN, 1000));
  assert.doesNotThrow(() => up.progress(10, 0));
  assert.doesNotThrow(() => up.onUploadProgress({ totalBytesSent: 5, totalBytesExpectedToSend: 10 }));
  assert.ok(errors.length >= 1);
  assert.ok(isRuleViolation(errors[0], 'out_of_range'), String(errors[0]));
});

test('a begin the SDK refuses gives an inert upload and an error, not an exception', async () => {
  const sdk = new FakeSdk();
  sdk.prepare = (r) => r.throwOn.set('beginUpload', reporterError('Rejected', { rule: 3, detail: 'local id conflict' }));
  const env = fakePlatform();
  const errors: UploadMonitorError[] = [];
  const monitor = await UploadMonitor.startWith(sdk, env.platform, options(new FakeAuth(null), { onError: (e) => errors.push(e) }));
  const up = monitor.begin({ localId: 'done_before', filename: 'x.mov' });
  assert.equal(up.id, undefined);
  assert.ok(isRuleViolation(up.error, 'local_id_conflict'));
  up.progress(1, 2);
  up.complete();
  assert.equal(sdk.reporter.named('reportProgress').length, 0);
  assert.equal(errors.length, 1);
});

test('fail derives an error code, clamps the retry count and ends the upload', async () => {
  const { monitor, reporter } = await started();
  const up = monitor.begin({ localId: 'a', filename: 'a.mov' });
  up.fail(new Error('Network request failed'), { retryCount: 7 });
  up.complete('ignored after the end');
  assert.deepEqual(reporter.named('fail')[0]?.slice(2), ['network', 'Network request failed', 3]);
  assert.equal(reporter.named('complete').length, 0);
  assert.equal(errorCode(Object.assign(new Error('x'), { code: 'E_UPLOAD_TIMEOUT' })), 'e_upload_timeout');
  assert.equal(errorCode('Upload timed out after 600 s'), 'timeout');
  assert.equal(errorCode({ weird: true }), 'upload_failed');
});

test('track reports the uploading stage, and a failure for a non-2xx answer or a throw', async () => {
  const { monitor, reporter } = await started();
  const ok = monitor.begin({ localId: 'ok', filename: 'ok.mov' });
  ok.onUploadProgress({ totalBytesSent: 500, totalBytesExpectedToSend: 1000 });
  const result = await ok.track({ uploadAsync: async () => ({ status: 200, body: '{}' }) });
  assert.equal(result.status, 200);
  assert.deepEqual(reporter.named('reportStage')[0]?.slice(2), [2]);
  assert.equal(reporter.named('fail').length, 0);

  const refused = monitor.begin({ localId: 'refused', filename: 'r.mov' });
  await assert.rejects(refused.track({ uploadAsync: async () => ({ status: 413 }) }, { retryCount: 1 }));
  assert.deepEqual(reporter.named('fail')[0]?.slice(2, 3), ['http_413']);

  const broken = monitor.begin({ localId: 'broken', filename: 'b.mov' });
  await assert.rejects(
    broken.track({
      uploadAsync: async () => {
        throw new Error('socket hang up');
      },
    }),
  );
  assert.deepEqual(reporter.named('fail')[1]?.slice(2, 3), ['network']);
});

test('the generated ReporterError variants map to typed errors', () => {
  const rejected = toMonitorError(reporterError('Rejected', { rule: 5, detail: 'upload is completed' }));
  assert.ok(isRuleViolation(rejected, 'terminal_state'));
  assert.equal(rejected.detail, 'upload is completed');
  assert.ok(isOffline(toMonitorError(reporterError('Offline'))));
  assert.ok(isTimeout(toMonitorError(reporterError('Timeout', { detail: 'timed out after 100 ms' }))));
  assert.ok(isUploadMonitorError(toMonitorError(reporterError('QueueFull', { detail: 'full' })), 'queue_full'));
  const unknown = toMonitorError(new TypeError('boom'));
  assert.equal(unknown.kind, 'unknown');
});

test('the variants without a detail field (config, outbox lock, server setup, isolation) map with their fields', () => {
  const config = toMonitorError(
    reporterError('InvalidConfig', { field: 'flush_interval_ms', allowed: '100..=3600000', got: '0' }),
  );
  assert.ok(isUploadMonitorError(config, 'invalid_config'));
  assert.equal(config.detail, 'flush_interval_ms must be 100..=3600000, got 0');
  const inUse = toMonitorError(reporterError('OutboxInUse', { path: '/data/upload-monitor.sqlite' }));
  assert.ok(isUploadMonitorError(inUse, 'outbox_in_use'));
  assert.match(inUse.detail, /\/data\/upload-monitor\.sqlite/);
  const server = toMonitorError(reporterError('ServerConfiguration', { problem: 'HTTP 404: function missing' }));
  assert.ok(isUploadMonitorError(server, 'server_configuration'));
  assert.equal(server.detail, 'HTTP 404: function missing');
  const isolated = toMonitorError(reporterError('Isolated', { uploads: 2n, events: 7n }));
  assert.ok(isUploadMonitorError(isolated, 'isolated'));
  assert.match(isolated.detail, /^7 event\(s\) of 2 upload\(s\) held back/);
  // None of them is mistaken for an error of another kind.
  for (const error of [config, inUse, server, isolated]) assert.ok(!isUploadMonitorError(error, 'unknown'));
});

test('an unknown variant (a newer SDK) or a plain exception is an UploadMonitorError of kind unknown', () => {
  const newer = toMonitorError(reporterError('SomethingNew', { detail: 'x' }));
  assert.equal(newer.kind, 'unknown');
  assert.ok(newer instanceof UploadMonitorError);
  const unknown = toMonitorError(new TypeError('boom'));
  assert.equal(unknown.kind, 'unknown');
  assert.equal(unknown.detail, 'boom');
});

test('flush and health speak numbers and typed errors', async () => {
  const { monitor, reporter } = await started();
  await monitor.flush(1500);
  assert.deepEqual(reporter.named('flush')[0], ['flush', 1500n]);
  reporter.flush = async () => {
    throw reporterError('Offline');
  };
  await assert.rejects(monitor.flush(), (e: unknown) => isOffline(e));
  const health = monitor.health();
  assert.equal(health.deliveredEvents, 42);
  assert.equal(health.pendingBytes, 1200);
  assert.equal(typeof health.progressIntervalMs, 'number');
  assert.ok(health.lastSuccessAt instanceof Date);
  assert.equal(health.isolatedUploads, 1);
  assert.equal(health.isolatedEvents, 4);
  assert.equal(health.quarantinedRows, 2);
  assert.equal(health.configurationProblem, 'HTTP 404: report_upload_events was not found');
});

test('start imports the AsyncStorage queue once, before recovering interrupted uploads', async () => {
  const sdk = new FakeSdk();
  const env = fakePlatform();
  const pending = JSON.stringify([{ id: 'recorded_1', uri: 'file:///a.mov', title: 'A' }]);
  env.storage.set('@pending_videos', pending);
  sdk.prepare = (reporter) => {
    reporter.recovered = ['0192a7b0-0000-7000-8000-0000000000aa'];
    reporter.uploads = [
      {
        uploadId: '0192a7b0-0000-7000-8000-0000000000aa',
        localId: 'recorded_1',
        uri: 'file:///a.mov',
        filename: 'a.mov',
        title: 'A',
        status: 3,
        progress: 40,
        retryCount: 0,
        errorCode: 'interrupted',
        metadataJson: '{"isRecorded":true}',
      },
    ];
  };
  const monitor = await UploadMonitor.startWith(sdk, env.platform, options(new FakeAuth({ access_token: 't' })));
  const names = sdk.reporter.calls.map((c) => c[0]);
  assert.deepEqual(names.slice(names.indexOf('importAsyncStorage')), ['importAsyncStorage', 'recoverAfterRestart']);
  assert.deepEqual(sdk.reporter.named('importAsyncStorage')[0], ['importAsyncStorage', pending, undefined]);
  assert.deepEqual(monitor.interrupted, [
    {
      uploadId: '0192a7b0-0000-7000-8000-0000000000aa',
      localId: 'recorded_1',
      filename: 'a.mov',
      title: 'A',
      uri: 'file:///a.mov',
      retryCount: 0,
      metadata: { isRecorded: true },
    },
  ]);

  // Nothing stored: nothing imported.
  const empty = new FakeSdk();
  await UploadMonitor.startWith(empty, fakePlatform().platform, options(new FakeAuth(null)));
  assert.equal(empty.reporter.named('importAsyncStorage').length, 0);
});

test('every auth state change pushes its token; the refresher asks supabase-js and never throws', async () => {
  const auth = new FakeAuth({ access_token: 'jwt-1' }, { access_token: 'jwt-2' });
  const { reporter, monitor } = await started({}, auth);
  auth.emit('TOKEN_REFRESHED', { access_token: 'jwt-3' });
  auth.emit('SIGNED_OUT', null);
  assert.deepEqual(reporter.accessTokens, ['jwt-3', undefined]);
  assert.equal(await reporter.refresher.refreshAccessToken(), 'jwt-2');
  auth.refreshed = null; // refreshSession throws
  assert.equal(await reporter.refresher.refreshAccessToken(), undefined);
  monitor.dispose();
  assert.equal(auth.unsubscribed, 1);
  auth.emit('SIGNED_IN', { access_token: 'late' });
  assert.deepEqual(reporter.accessTokens, ['jwt-3', undefined], 'no push after dispose');
});

test('a throwing SDK inside the auth and NetInfo listeners never throws into supabase-js or NetInfo', async () => {
  const auth = new FakeAuth({ access_token: 'jwt-1' });
  const { reporter, env, errors } = await started({}, auth);
  reporter.throwOn.set('setAccessToken', reporterError('ShutDown'));
  reporter.throwOn.set('setOnline', new TypeError('the reporter was freed'));
  assert.doesNotThrow(() => auth.emit('TOKEN_REFRESHED', { access_token: 'jwt-2' }));
  assert.doesNotThrow(() => env.netInfo(false));
  assert.deepEqual(errors.map((e) => e.kind), ['shut_down', 'unknown'], 'both errors reach onError');

  // An onError that throws too changes nothing.
  const throwing = await started({ onError: () => { throw new Error('app bug'); } });
  throwing.reporter.throwOn.set('setAccessToken', reporterError('ShutDown'));
  assert.doesNotThrow(() => throwing.auth.emit('SIGNED_IN', { access_token: 'jwt-3' }));
});

test('background flushes briefly, active polls retry requests once each, NetInfo sets online', async () => {
  const { reporter, monitor, env } = await started();
  env.appState('background');
  await tick();
  assert.deepEqual(reporter.named('flush')[0], ['flush', 3000n]);

  reporter.retries = [{ uploadId: 'u1', localId: 'import_1', requestedAt: '2026-12-02T10:00:00Z', retryCount: 1 }];
  const seen: string[] = [];
  const stop = monitor.onRetryRequested((r) => seen.push(r.uploadId));
  await tick();
  env.appState('active');
  await tick();
  assert.deepEqual(seen, ['u1'], 'a request is handed over once');
  stop();

  env.netInfo(false);
  env.netInfo(true, false);
  env.netInfo(true, true);
  assert.deepEqual(reporter.named('setOnline').map((c) => c[1]), [false, false, true]);

  monitor.dispose();
  assert.deepEqual(env.listenerCounts(), { appState: 0, netInfo: 0 });
  assert.deepEqual(reporter.calls.slice(-2).map((c) => c[0]), ['shutdown', 'uniffiDestroy']);
});

test('log lines reach the logger every drain; a logger that throws changes nothing', async () => {
  const got: LogEntry[] = [];
  const { reporter, env, monitor } = await started({
    logger: (entry) => {
      got.push(entry);
      if (entry.message.includes('boom')) throw new Error('the app logger crashed');
    },
  });
  reporter.logLines.push(
    { level: 2, message: 'boom', atMs: 1_764_000_000_000n },
    { level: 1, message: 'server pace: one progress per 1000 ms', atMs: 1_764_000_000_001n },
  );
  env.clock.fireIntervals();
  assert.deepEqual(got.map((e) => [e.level, e.message]), [
    ['warn', 'boom'],
    ['info', 'server pace: one progress per 1000 ms'],
  ]);
  assert.ok(got[0]?.at instanceof Date);
  monitor.begin({ localId: 'still', filename: 'ok.mov' }).progress(1, 2);
  assert.equal(reporter.named('reportProgress').length, 1);
});

test('start rejects with a typed error when the SDK cannot open', async () => {
  const sdk = new FakeSdk();
  sdk.createReporter = () => {
    throw reporterError('InvalidArgument', { detail: 'supabase_url must start with http:// or https://' });
  };
  await assert.rejects(
    UploadMonitor.startWith(sdk, fakePlatform().platform, options(new FakeAuth(null))),
    (e: unknown) => isUploadMonitorError(e, 'invalid_argument'),
  );
  const noDir = fakePlatform({ defaultDatabaseDirectory: () => undefined });
  await assert.rejects(
    UploadMonitor.startWith(new FakeSdk(), noDir.platform, options(new FakeAuth(null))),
    (e: unknown) => isUploadMonitorError(e, 'invalid_argument'),
  );
});
