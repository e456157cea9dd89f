// Starts the monitor once, at app start-up, after the supabase-js client exists.
import * as FileSystem from 'expo-file-system';
import { createClient } from '@supabase/supabase-js';
import { UploadMonitor, type Monitor } from 'react-native-upload-monitor';

export const supabase = createClient('https://xyz.supabase.co', 'public-anon-key');

let started: Promise<Monitor> | undefined;

/** The app's one monitor (started on first use). */
export function uploadMonitor(): Promise<Monitor> {
  started ??= UploadMonitor.start({
    supabaseUrl: 'https://xyz.supabase.co',
    anonKey: 'public-anon-key',
    auth: supabase.auth,
    databasePath: `${FileSystem.documentDirectory ?? ''}upload-monitor.sqlite`,
    logger: ({ level, message }) => console.log(`[upload-monitor] ${level}: ${message}`),
    onError: (error) => console.warn('[upload-monitor]', error.kind, error.detail),
  }).then((monitor) => {
    // Uploads a killed app left running: back into the app's own queue.
    for (const upload of monitor.interrupted) {
      console.log('re-queueing', upload.localId, upload.uri);
    }
    // "Réessayer" from the admin's /monitoring page.
    monitor.onRetryRequested((request) => console.log('admin asked to retry', request.localId));
    return monitor;
  });
  return started;
}
