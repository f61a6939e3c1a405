//! Uploaded files and signatures (DESIGN.md §5): streamed in, sealed in 64 KiB segments under a fresh data key per
//! file as they arrive (plaintext is never written), kept in an object directory under the data dir; the data key is
//! wrapped to the organisation's active key and stored with the submission.
//!
//! An object becomes durable (fsync of the file and its directory) before the submission naming it commits; an
//! upload abandoned half-way leaves only a sealed temporary file, removed on drop.

use std::path::{Path, PathBuf};

use sealform_crypto::{DataKey, RecordBinding, STREAM_HEADER_LEN, STREAM_SEGMENT_LEN, StreamOpener, StreamSealer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use zeroize::Zeroizing;

use crate::DomainError;
use crate::error::crypto_failure;
use crate::form_model::UploadedFile;
use crate::ids::{FileId, FormId, OrgId, SubmissionId};
use crate::keys::Keyring;
use crate::store::Store;
use crate::submission::{FileRecord, NewFile};

/// Where sealed objects live: `<root>/<org id>/<file id>`.
#[derive(Clone, Debug)]
pub struct ObjectStore {
    root: PathBuf,
}

impl ObjectStore {
    /// An object store rooted at `root` (created, owner-only, on first write).
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, object_key: &str) -> Result<PathBuf, DomainError> {
        // Object keys are made here from two UUIDs; anything else is a corrupted row, never a path to follow.
        let valid = object_key.len() == 73
            && object_key
                .bytes()
                .enumerate()
                .all(|(i, b)| if i == 36 { b == b'/' } else { b.is_ascii_hexdigit() || b == b'-' });
        if !valid {
            return Err(DomainError::Internal("an object key is malformed".into()));
        }
        Ok(self.root.join(object_key))
    }

    /// Removes the objects of deleted submissions. Their keys are shredded already; this frees the space.
    pub async fn remove(&self, object_keys: &[String]) {
        for key in object_keys {
            if let Ok(path) = self.path_of(key)
                && let Err(err) = tokio::fs::remove_file(&path).await
                && err.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(error = %err, "could not remove a sealed object");
            }
        }
    }
}

/// What a file is bound to: its data key and its sealed bytes name the organisation, form, submission and file.
#[derive(Clone, Copy, Debug)]
pub struct FileRef {
    /// Organisation.
    pub org: OrgId,
    /// Form.
    pub form: FormId,
    /// Submission.
    pub submission: SubmissionId,
    /// The file.
    pub file: FileId,
}

impl FileRef {
    fn aad(&self, what: &str) -> Vec<u8> {
        let path = format!("#{what}:{}", self.file);
        RecordBinding {
            org_id: *self.org.as_uuid().as_bytes(),
            form_id: *self.form.as_uuid().as_bytes(),
            submission_id: *self.submission.as_uuid().as_bytes(),
            revision: 1,
            field_path: &path,
        }
        .to_aad()
    }

    /// The associated data of the file's wrapped data key.
    #[must_use]
    pub fn key_aad(&self) -> Vec<u8> {
        self.aad("file-key")
    }

    fn object_key(&self) -> String {
        format!("{}/{}", self.org, self.file)
    }

    fn from_record(record: &FileRecord) -> Self {
        Self { org: record.org_id, form: record.form_id, submission: record.submission_id, file: record.file.id }
    }
}

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// More bytes than the question allows.
    #[error("the file is too large")]
    TooLarge,
    /// Anything else: storage or crypto.
    #[error(transparent)]
    Failed(#[from] DomainError),
}

/// An upload in progress: bytes pushed in are sealed segment by segment into a temporary file.
pub struct FileSealer {
    target: FileRef,
    question_id: String,
    name: String,
    limit: u64,
    size: u64,
    key: DataKey,
    sealer: StreamSealer,
    buffer: Zeroizing<Vec<u8>>,
    out: tokio::fs::File,
    temp: TempPath,
    sealed_size: u64,
}

/// A temporary file removed unless persisted.
struct TempPath(Option<PathBuf>);

impl Drop for TempPath {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl std::fmt::Debug for FileSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSealer").field("file", &self.target.file).field("size", &self.size).finish_non_exhaustive()
    }
}

impl FileSealer {
    /// Starts sealing an upload for `question_id`, allowing at most `limit` bytes. `name` is the respondent's file
    /// name; it is kept only inside the sealed answers.
    ///
    /// # Errors
    /// Storage and crypto failures.
    pub async fn start(
        objects: &ObjectStore,
        target: FileRef,
        question_id: &str,
        name: &str,
        limit: u64,
    ) -> Result<Self, DomainError> {
        let dir = objects.root.join(target.org.to_string());
        create_private_dir(&objects.root).await?;
        create_private_dir(&dir).await?;
        let temp = dir.join(format!("{}.partial", target.file));
        let mut out = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .await
            .map_err(io_failure("create sealed object"))?;
        let temp = TempPath(Some(temp));
        let key = DataKey::generate().map_err(crypto_failure("generate file key"))?;
        let (sealer, header) =
            StreamSealer::new(&key, &target.aad("file")).map_err(crypto_failure("start sealing a file"))?;
        out.write_all(&header).await.map_err(io_failure("write sealed object"))?;
        Ok(Self {
            target,
            question_id: question_id.to_owned(),
            name: name.to_owned(),
            limit,
            size: 0,
            key,
            sealer,
            buffer: Zeroizing::new(Vec::with_capacity(STREAM_SEGMENT_LEN)),
            out,
            temp,
            sealed_size: header.len() as u64,
        })
    }

    /// Seals more bytes of the upload.
    ///
    /// # Errors
    /// [`UploadError::TooLarge`] past the limit; storage and crypto failures.
    pub async fn push(&mut self, mut chunk: &[u8]) -> Result<(), UploadError> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(UploadError::TooLarge);
        }
        while !chunk.is_empty() {
            // Seal a full buffer only once more bytes arrive: the final segment must be sealed as final.
            if self.buffer.len() == STREAM_SEGMENT_LEN {
                self.flush_segment(false).await?;
            }
            let take = chunk.len().min(STREAM_SEGMENT_LEN - self.buffer.len());
            self.buffer.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
        }
        Ok(())
    }

    async fn flush_segment(&mut self, last: bool) -> Result<(), DomainError> {
        let sealed = self.sealer.seal_segment(&self.buffer, last).map_err(crypto_failure("seal a file segment"))?;
        self.buffer.clear();
        self.out.write_all(&sealed).await.map_err(io_failure("write sealed object"))?;
        self.sealed_size += sealed.len() as u64;
        Ok(())
    }

    /// Bytes received so far.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Seals the last segment, makes the object durable, and wraps the file's key to the organisation's active key.
    ///
    /// # Errors
    /// Storage and crypto failures.
    pub async fn finish<S: Store>(
        mut self,
        objects: &ObjectStore,
        keyring: &Keyring<S>,
    ) -> Result<(NewFile, UploadedFile), DomainError> {
        self.flush_segment(true).await?;
        self.out.sync_all().await.map_err(io_failure("sync sealed object"))?;
        let object_key = self.target.object_key();
        let path = objects.path_of(&object_key)?;
        let temp = self.temp.0.take().ok_or_else(|| DomainError::Internal("upload finished twice".into()))?;
        tokio::fs::rename(&temp, &path).await.map_err(io_failure("store sealed object"))?;
        sync_dir(path.parent().unwrap_or(&objects.root)).await?;
        // Read the active key afresh: a file key cannot be re-wrapped later if its key retired meanwhile.
        keyring.forget_active(self.target.org);
        let wrapped = keyring.wrap_data_key(self.target.org, &self.key, &self.target.key_aad()).await?;
        let file = NewFile {
            id: self.target.file,
            question_id: self.question_id,
            object_key,
            sealed_size: self.sealed_size,
            key_id: wrapped.key_id(),
            wrapped_key: wrapped.as_bytes().to_vec(),
        };
        Ok((file, UploadedFile { name: self.name, size: self.size }))
    }
}

/// Opens a stored file and streams its plaintext in chunks of up to 64 KiB. Each chunk is authenticated before it
/// is sent; a tampered or truncated object ends the stream with an error (the client sees an aborted download,
/// never altered bytes presented as complete).
///
/// # Errors
/// Key and storage failures before the first byte.
pub async fn open_file<S: Store>(
    objects: &ObjectStore,
    keyring: &Keyring<S>,
    record: &FileRecord,
) -> Result<tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>, DomainError> {
    let target = FileRef::from_record(record);
    let wrapped = sealform_crypto::WrappedKey::from_bytes(record.file.wrapped_key.clone())
        .map_err(crypto_failure("parse wrapped file key"))?;
    let private = keyring.private_key(record.org_id, wrapped.key_id()).await?;
    let key =
        sealform_crypto::unwrap(&private, &wrapped, &target.key_aad()).map_err(crypto_failure("unwrap file key"))?;
    let path = objects.path_of(&record.file.object_key)?;
    let mut input = tokio::fs::File::open(&path).await.map_err(io_failure("open sealed object"))?;
    let mut header = [0u8; STREAM_HEADER_LEN];
    input.read_exact(&mut header).await.map_err(io_failure("read sealed object"))?;
    let mut opener = StreamOpener::new(&key, &target.aad("file"), &header).map_err(crypto_failure("open file"))?;
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    tokio::spawn(async move {
        let sealed_len = STREAM_SEGMENT_LEN + 16;
        let mut current = vec![0u8; sealed_len];
        let mut next = vec![0u8; sealed_len];
        let result: Result<(), std::io::Error> = async {
            let mut current_len = read_full(&mut input, &mut current).await?;
            loop {
                let (last, next_len) = if current_len < sealed_len {
                    (true, 0)
                } else {
                    let n = read_full(&mut input, &mut next).await?;
                    (n == 0, n)
                };
                let plain = opener
                    .open_segment(&current[..current_len], last)
                    .map_err(|_| std::io::Error::other("the sealed file does not authenticate"))?;
                if tx.send(Ok(plain.to_vec())).await.is_err() {
                    return Ok(());
                }
                if last {
                    return Ok(());
                }
                std::mem::swap(&mut current, &mut next);
                current_len = next_len;
            }
        }
        .await;
        if let Err(err) = result {
            tracing::error!(error = %err, "a sealed file could not be opened");
            let _ = tx.send(Err(err)).await;
        }
    });
    Ok(rx)
}

async fn read_full(input: &mut tokio::fs::File, buf: &mut [u8]) -> Result<usize, std::io::Error> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = input.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

async fn create_private_dir(dir: &Path) -> Result<(), DomainError> {
    match tokio::fs::create_dir(dir).await {
        Ok(()) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                tokio::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .await
                    .map_err(io_failure("restrict object directory"))?;
            }
            if let Some(parent) = dir.parent() {
                sync_dir(parent).await?;
            }
            Ok(())
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(io_failure("create object directory")(err)),
    }
}

async fn sync_dir(dir: &Path) -> Result<(), DomainError> {
    let dir = tokio::fs::File::open(dir).await.map_err(io_failure("open object directory"))?;
    dir.sync_all().await.map_err(io_failure("sync object directory"))
}

fn io_failure(what: &'static str) -> impl FnOnce(std::io::Error) -> DomainError {
    move |err| DomainError::Internal(format!("{what}: {err}"))
}
