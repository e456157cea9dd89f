// The spec's ImportQueueService.processItem: one reported upload through the six steps;
// `complete` only once the `videos` row exists, with its id.
import * as FileSystem from 'expo-file-system';
import { VideoUploader } from './VideoUploader';
import { uploadMonitor, supabase } from './uploadMonitor';

export interface ImportVideoItem {
  id: string;
  uri: string;
  filename: string;
  title?: string;
  status: 'pending' | 'uploading' | 'completed' | 'failed';
  progress: number;
  error?: string;
  retryCount: number;
  metadata?: { isRecorded?: boolean; isImported?: boolean; duration?: number };
}

export class ImportQueueService {
  static async processItem(item: ImportVideoItem, userId: string): Promise<void> {
    const monitor = await uploadMonitor();
    const up = monitor.begin({
      localId: item.id,
      filename: item.filename,
      title: item.title,
      source: item.metadata?.isRecorded ? 'recorded' : 'imported',
      metadata: item.metadata ?? {},
    });
    try {
      up.stage('validating'); // STEP 1
      const info = await FileSystem.getInfoAsync(item.uri);
      if (!info.exists) throw Object.assign(new Error('file missing'), { code: 'file_missing' });

      up.stage('extracting_metadata'); // STEP 2
      const fileSize = info.size ?? 0;

      await VideoUploader.uploadVideo(item.uri, item.filename, userId, {
        // STEP 3 (track() reports `uploading`)
        localId: item.id,
        fileSize,
        videoTitle: item.title,
        isRecorded: item.metadata?.isRecorded,
        retryCount: item.retryCount,
        upload: up,
        onProgress: (percent) => {
          item.progress = percent;
        },
      });

      up.stage('creating_record'); // STEP 4
      const { data, error } = await supabase
        .from('videos')
        .insert({ title: item.title, user_id: userId })
        .select('id')
        .single();
      if (error) throw error;

      up.stage('generating_thumbnails'); // STEP 5
      up.stage('queuing_transcription'); // STEP 6
      up.complete((data as { id: string }).id);
      item.status = 'completed';
    } catch (error) {
      up.fail(error, { retryCount: item.retryCount });
      item.status = 'failed';
      item.error = error instanceof Error ? error.message : String(error);
      throw error;
    }
  }
}
