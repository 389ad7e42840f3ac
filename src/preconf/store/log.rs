//! The promise log: promises appended to a file and synced before they are returned, so that
//! a confirm pays for one small sequential write and one `fdatasync` rather than a database
//! commit. Each record is framed, so that a write torn by a crash is found and cut off:
//! `length: u32 LE | checksum: the first 8 bytes of keccak256(payload) | payload`.

use alloy_primitives::keccak256;
use std::{
    fs::{File, OpenOptions},
    io::{self, Read, Seek, SeekFrom, Write},
    path::Path,
};
use tracing::warn;

/// Bytes in front of each payload: its length and its checksum.
const HEADER: usize = 12;
/// The largest payload a record may carry: far above a promise of 256 transactions (8 KiB), so
/// a length past it marks a torn or foreign record.
const MAX_PAYLOAD: usize = 1 << 20;

/// An open promise log, positioned at its end.
#[derive(Debug)]
pub(super) struct PromiseLog {
    file: File,
    len: u64,
    /// Set when a failed append could not be undone: the file may hold a torn record, behind
    /// which nothing may be written.
    broken: bool,
}

impl PromiseLog {
    /// Opens (or creates) the log at `path`: the payloads of its whole records, in the order
    /// they were appended, with the file cut after the last of them (a torn tail is dropped:
    /// its promises were never returned).
    pub(super) fn open(path: &Path) -> io::Result<(Self, Vec<Vec<u8>>)> {
        let existed = path.try_exists()?;
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        if !existed {
            // The new file's directory entry must survive a crash as well as what it holds.
            if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                File::open(dir)?.sync_all()?;
            }
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let (payloads, whole) = records(&bytes);
        if whole < bytes.len() {
            // A torn tail (its promises were never returned) or a damaged record.
            warn!(
                path = %path.display(),
                kept = payloads.len(),
                dropped_bytes = bytes.len() - whole,
                "the promise log ends in an incomplete or damaged record; cut after the last whole one"
            );
            file.set_len(whole as u64)?;
            file.sync_data()?;
        }
        file.seek(SeekFrom::Start(whole as u64))?;
        Ok((Self { file, len: whole as u64, broken: false }, payloads))
    }

    /// Appends one record per payload and syncs them to disk. On failure the log is cut back
    /// to where it was (and synced), so that no later record lands behind a torn one and none
    /// of the failed ones comes back at the next start; if that fails too, the log refuses
    /// every later append.
    pub(super) fn append(&mut self, payloads: &[Vec<u8>]) -> io::Result<()> {
        if self.broken {
            return Err(io::Error::other("an earlier failed append could not be undone"));
        }
        let mut framed = Vec::with_capacity(payloads.iter().map(|p| HEADER + p.len()).sum());
        for payload in payloads {
            if payload.len() > MAX_PAYLOAD {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "promise record too large",
                ));
            }
            framed.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            framed.extend_from_slice(&keccak256(payload)[..8]);
            framed.extend_from_slice(payload);
        }
        let written = self.file.write_all(&framed).and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => {
                self.len += framed.len() as u64;
                Ok(())
            }
            Err(error) => {
                let undone = self
                    .file
                    .set_len(self.len)
                    .and_then(|()| self.file.sync_data())
                    .and_then(|()| self.file.seek(SeekFrom::Start(self.len)));
                self.broken = undone.is_err();
                Err(error)
            }
        }
    }

    /// Empties the log: everything it held is in the database.
    pub(super) fn clear(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.len = 0;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.sync_data()
    }

    /// Its length in bytes.
    pub(super) fn len(&self) -> u64 {
        self.len
    }
}

/// The payloads of the whole records at the start of `bytes`, and where the last one ends.
fn records(bytes: &[u8]) -> (Vec<Vec<u8>>, usize) {
    let mut payloads = Vec::new();
    let mut at = 0;
    while let Some(header) = bytes.get(at..at + HEADER) {
        let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let checksum = &header[4..];
        if length > MAX_PAYLOAD {
            break;
        }
        let Some(payload) = bytes.get(at + HEADER..at + HEADER + length) else { break };
        if keccak256(payload)[..8] != *checksum {
            break;
        }
        payloads.push(payload.to_vec());
        at += HEADER + length;
    }
    (payloads, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_read_back_and_a_torn_tail_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("promises.log");
        let (mut log, replayed) = PromiseLog::open(&path).unwrap();
        assert!(replayed.is_empty());
        log.append(&[b"one".to_vec(), b"two".to_vec()]).unwrap();
        log.append(&[vec![7; 1000]]).unwrap();
        let whole = log.len();
        drop(log);

        // A crash in the middle of the next append: a header and half a payload.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&100u32.to_le_bytes()).unwrap();
        file.write_all(&[0; 8 + 50]).unwrap();
        drop(file);

        let (mut log, replayed) = PromiseLog::open(&path).unwrap();
        assert_eq!(replayed, vec![b"one".to_vec(), b"two".to_vec(), vec![7; 1000]]);
        assert_eq!((log.len(), std::fs::metadata(&path).unwrap().len()), (whole, whole));
        log.append(&[b"three".to_vec()]).unwrap();
        drop(log);
        let (_, replayed) = PromiseLog::open(&path).unwrap();
        assert_eq!(replayed.len(), 4);
        assert_eq!(replayed[3], b"three".to_vec());
    }

    #[test]
    fn a_corrupt_record_ends_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("promises.log");
        let (mut log, _) = PromiseLog::open(&path).unwrap();
        log.append(&[b"kept".to_vec(), b"flipped".to_vec(), b"after".to_vec()]).unwrap();
        drop(log);
        let mut bytes = std::fs::read(&path).unwrap();
        let second = HEADER + 4 + HEADER;
        bytes[second] ^= 1;
        std::fs::write(&path, &bytes).unwrap();

        let (mut log, replayed) = PromiseLog::open(&path).unwrap();
        assert_eq!(replayed, vec![b"kept".to_vec()]);
        log.clear().unwrap();
        drop(log);
        let (_, replayed) = PromiseLog::open(&path).unwrap();
        assert!(replayed.is_empty());
    }
}
