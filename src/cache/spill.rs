//! Answers that were paid for but could not be committed (a full disk, a failing cache file):
//! appended to a spill file, which the next run that opens the cache imports. Two places are
//! tried, beside the cache and in the temporary directory (often another file system), so that
//! a cache on a full disk still has somewhere to put them. An answer that fits neither is at
//! least kept in memory for the rest of the run.

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Key, StoredAnswer};
use crate::record::Usage;

/// One spilled answer, one JSON line.
#[derive(Serialize, Deserialize)]
struct Line {
    key: String,
    content: String,
    usage: Usage,
}

/// Where the answers of the cache at `cache` are spilled, in the order they are tried.
pub(super) fn paths(cache: &Path) -> [PathBuf; 2] {
    let mut beside = cache.as_os_str().to_owned();
    beside.push("-spill.jsonl");
    // The temporary directory is shared: the name says whose cache it belongs to.
    let absolute = cache.canonicalize().unwrap_or_else(|_| cache.to_path_buf());
    let digest = hex::encode(&Sha256::digest(absolute.as_os_str().as_encoded_bytes())[..8]);
    [PathBuf::from(beside), std::env::temp_dir().join(format!("ko2en-spill-{digest}.jsonl"))]
}

/// Append `answer` to the first spill file that takes it, synced; which one, or None.
pub(super) fn write(cache: &Path, key: Key, answer: &StoredAnswer) -> Option<PathBuf> {
    let line = Line { key: key.hex(), content: answer.content.clone(), usage: answer.usage };
    let mut bytes = serde_json::to_vec(&line).expect("an answer is JSON");
    bytes.push(b'\n');
    paths(cache).into_iter().find(|path| {
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(path).and_then(|mut file| file.write_all(&bytes).and_then(|()| file.sync_all())).is_ok()
    })
}

/// Every answer spilled for the cache at `cache`, and the files they came from. A line cut
/// short by a crash is skipped.
pub(super) fn read(cache: &Path) -> (Vec<(Key, StoredAnswer)>, Vec<PathBuf>) {
    let mut answers = Vec::new();
    let mut files = Vec::new();
    for path in paths(cache) {
        let Ok(file) = fs::File::open(&path) else { continue };
        files.push(path);
        for line in BufReader::new(file).lines().map_while(Result::ok) {
            let Ok(line) = serde_json::from_str::<Line>(&line) else { continue };
            let Some(key) = hex::decode(&line.key).ok().and_then(|k| <[u8; 32]>::try_from(k).ok()) else {
                continue;
            };
            answers.push((Key(key), StoredAnswer { content: line.content, usage: line.usage }));
        }
    }
    (answers, files)
}
