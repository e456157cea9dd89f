// supabase-js against a Supabase (the dev stack, `supabase start` or a hosted project): the
// admin signs in, refreshes the session, reads itself, uploads objects (binary and multipart),
// downloads them, reads a signed URL, and signs out. Every answer is checked; the first
// mismatch exits 1 with what was expected. Run by tests/supabase_js.rs, or by hand:
//
//   SUPABASE_URL=http://127.0.0.1:54321 SUPABASE_ANON_KEY=... \
//   ADMIN_EMAIL=admin@upload-monitor.test ADMIN_PASSWORD=upload-monitor-admin \
//   node tests/js/contract.mjs
import { createClient } from '@supabase/supabase-js'

const env = (name) => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set`)
  return value
}
const url = env('SUPABASE_URL')
const anonKey = env('SUPABASE_ANON_KEY')
const email = env('ADMIN_EMAIL')
const password = env('ADMIN_PASSWORD')

function check(condition, what, detail) {
  if (!condition) {
    console.error(`FAILED: ${what}${detail === undefined ? '' : `: ${JSON.stringify(detail)}`}`)
    process.exit(1)
  }
  console.log(`ok - ${what}`)
}

const sameBytes = (a, b) => a.length === b.length && a.every((byte, i) => byte === b[i])

// A server-side script: no storage for the session, no background refresh timer.
const supabase = createClient(url, anonKey, {
  auth: { persistSession: false, autoRefreshToken: false },
})

// Auth ------------------------------------------------------------------------------------
{
  const { data, error } = await supabase.auth.signInWithPassword({ email, password: 'wrong' })
  check(
    error?.name === 'AuthApiError' && error.status === 400 && error.code === 'invalid_credentials',
    'a wrong password is an AuthApiError 400 invalid_credentials',
    { name: error?.name, status: error?.status, code: error?.code, message: error?.message },
  )
  check(data.session === null, 'and no session')
}

const signIn = await supabase.auth.signInWithPassword({ email, password })
check(!signIn.error, 'signInWithPassword succeeds', signIn.error)
const first = signIn.data.session
check(first.user.email === email, 'the session is the admin', first.user.email)
check(first.user.app_metadata.role === 'admin', 'with app_metadata.role = admin', first.user.app_metadata)

const refreshed = await supabase.auth.refreshSession()
check(!refreshed.error, 'refreshSession succeeds', refreshed.error)
const second = refreshed.data.session
check(second.refresh_token !== first.refresh_token, 'the refresh token rotated')
check(second.user.id === first.user.id, 'same user after refresh')

const me = await supabase.auth.getUser()
check(!me.error && me.data.user.id === first.user.id, 'getUser answers the admin', me.error)

// PostgREST with the refreshed token.
const version = await supabase.rpc('monitor_api_version')
check(!version.error && typeof version.data === 'string', 'an RPC runs with the session', version.error)

// Storage ---------------------------------------------------------------------------------
const folder = first.user.id
const stamp = `${Date.now()}-${Math.floor(Math.random() * 1e6)}`
const videos = supabase.storage.from('videos')

const binaryPath = `${folder}/contract-${stamp}.mp4`
const binary = new Uint8Array(256 * 1024).map((_, i) => (i * 31) % 251)
{
  const { data, error } = await videos.upload(binaryPath, binary, { contentType: 'video/mp4' })
  check(!error && data.path === binaryPath, 'upload of bytes (binary body)', error ?? data)
  check(data.fullPath === `videos/${binaryPath}`, 'fullPath is bucket/path', data)
}
{
  const { error } = await videos.upload(binaryPath, binary, { contentType: 'video/mp4' })
  check(
    error?.name === 'StorageApiError' && error.message === 'The resource already exists',
    'a second upload without upsert is a StorageApiError "already exists"',
    { name: error?.name, message: error?.message, status: error?.status },
  )
}
{
  const { data, error } = await videos.download(binaryPath)
  check(!error, 'download succeeds', error)
  const bytes = new Uint8Array(await data.arrayBuffer())
  check(sameBytes(bytes, binary), 'download returns the uploaded bytes', bytes.length)
}

const blobPath = `${folder}/contract-${stamp}.txt`
const text = `uploaded as a Blob by supabase-js at ${stamp}`
{
  const blob = new Blob([text], { type: 'text/plain' })
  const { error } = await videos.upload(blobPath, blob, { cacheControl: '60' })
  check(!error, 'upload of a Blob (multipart form)', error)
  const { data, error: downloadError } = await videos.download(blobPath)
  check(!downloadError && (await data.text()) === text, 'the Blob comes back', downloadError)
}

{
  const { data, error } = await videos.createSignedUrl(binaryPath, 60)
  check(!error && data.signedUrl.startsWith(`${url}/storage/v1/object/sign/videos/`),
    'createSignedUrl answers a URL on this project', error ?? data)
  const response = await fetch(data.signedUrl)
  check(response.status === 200, 'the signed URL is readable without a token', response.status)
  const bytes = new Uint8Array(await response.arrayBuffer())
  check(sameBytes(bytes, binary), 'the signed URL serves the object', bytes.length)
  const tampered = await fetch(data.signedUrl.replace(`contract-${stamp}.mp4`, `contract-${stamp}.txt`))
  check(tampered.status === 400, 'the token does not open another object', tampered.status)
}
{
  const { error } = await videos.download(`${folder}/missing-${stamp}.mp4`)
  check(error?.name === 'StorageApiError' || error?.name === 'StorageUnknownError',
    'downloading a missing object is an error', { name: error?.name, message: error?.message })
}

// Sign-out --------------------------------------------------------------------------------
const signedInToken = second.access_token
{
  const { error } = await supabase.auth.signOut()
  check(!error, 'signOut succeeds', error)
  const { error: afterError } = await supabase.auth.getUser(signedInToken)
  // GoTrue answers 403 session_not_found; supabase-js reports that as a missing session.
  check(afterError?.name === 'AuthSessionMissingError',
    'the signed-out access token is refused by Auth (its session is gone)', { name: afterError?.name, status: afterError?.status, code: afterError?.code, message: afterError?.message })
}
console.log('supabase-js contract: all checks passed')
