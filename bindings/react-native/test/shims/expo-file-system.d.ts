// expo-file-system's legacy API as the example uses it (shape of expo-file-system 18/19's
// `legacy` entry: createUploadTask, documentDirectory, FileSystemUploadType).
declare module 'expo-file-system' {
  export const documentDirectory: string | null;
  export enum FileSystemUploadType {
    BINARY_CONTENT = 0,
    MULTIPART = 1,
  }
  export interface UploadProgressData {
    totalBytesSent: number;
    totalBytesExpectedToSend: number;
  }
  export interface FileSystemUploadResult {
    status: number;
    body: string;
    headers: Record<string, string>;
    mimeType: string | null;
  }
  export interface UploadTask {
    uploadAsync(): Promise<FileSystemUploadResult | undefined>;
    cancelAsync(): Promise<void>;
  }
  export function createUploadTask(
    url: string,
    fileUri: string,
    options?: { httpMethod?: 'POST' | 'PUT' | 'PATCH'; headers?: Record<string, string>; uploadType?: FileSystemUploadType },
    callback?: (data: UploadProgressData) => void,
  ): UploadTask;
  export function getInfoAsync(fileUri: string): Promise<{ exists: boolean; size?: number }>;
}
