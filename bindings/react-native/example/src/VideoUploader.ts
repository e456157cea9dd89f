// The spec's VideoUploader.uploadVideo with the SDK in place of createUploadQueueRecord /
// updateUploadProgress / completeUploadQueue / failUploadQueue: no awaits on the network in
// the upload path, nothing lost offline or when the app is killed.
import * as FileSystem from 'expo-file-system';
import type { Upload } from 'react-native-upload-monitor';
import { uploadMonitor } from './uploadMonitor';

export interface UploadOptions {
  videoTitle?: string;
  /** The app's queue id (ImportVideoItem.id). */
  localId: string;
  fileSize: number;
  isRecorded?: boolean;
  retryCount?: number;
  onProgress?: (percent: number) => void;
  /** The processItem's upload, when it already began one. */
  upload?: Upload;
}

export interface UploadResult {
  fileName: string;
  fileSize: number;
  publicUrl: string;
}

export class VideoUploader {
  static async uploadVideo(
    videoUri: string,
    fileName: string,
    userId: string,
    options: UploadOptions,
  ): Promise<UploadResult> {
    const monitor = await uploadMonitor();
    // Was: await this.createUploadQueueRecord(userId, title, fileName, fileSize)
    const up =
      options.upload ??
      monitor.begin({
        localId: options.localId,
        filename: fileName,
        title: options.videoTitle ?? 'Untitled',
        fileSize: options.fileSize,
        source: options.isRecorded ? 'recorded' : 'imported',
        metadata: { isRecorded: options.isRecorded ?? false },
      });
    const uploadUrl = `https://xyz.supabase.co/storage/v1/object/videos/${userId}/${fileName}`;
    const task = FileSystem.createUploadTask(
      uploadUrl,
      videoUri,
      { httpMethod: 'POST', uploadType: FileSystem.FileSystemUploadType.BINARY_CONTENT },
      (data) => {
        // Was: this.updateUploadProgress(queueId, percent, speed).catch(console.error)
        up.onUploadProgress(data);
        options.onProgress?.((data.totalBytesSent / data.totalBytesExpectedToSend) * 100);
      },
    );
    // track(): the `uploading` stage, and failUploadQueue's job when the task throws or the
    // server refuses (then rethrows, as before).
    await up.track(task, { retryCount: options.retryCount ?? 0 });
    if (!options.upload) {
      // Was: await this.completeUploadQueue(queueId)
      up.complete();
    }
    return { fileName, fileSize: options.fileSize, publicUrl: uploadUrl };
  }
}
