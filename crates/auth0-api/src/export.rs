//! Reading an export file as a stream: the download arrives in chunks, a gzip decoder turns them
//! into lines, and the caller takes one line (one user) at a time. Nothing holds the whole file.
//! A file that ends before its gzip trailer is an error, never a short result.

use crate::config::is_loopback;
use crate::error::{Error, Result};
use crate::transport::{describe, is_server_error, Client, Retries};
use bytes::Bytes;
use flate2::{Crc, Decompress, FlushDecompress, Status};
use reqwest::StatusCode;

const ENDPOINT: &str = "GET export file";

/// An open download of an export file.
pub struct Download {
    resp: reqwest::Response,
    /// Compressed bytes received so far.
    pub received: u64,
}

impl Client {
    /// Opens the download at a job's `location`. The link is Auth0's, not ours: it must be
    /// HTTPS (or HTTP on loopback, for the emulator). An expired link is [`Error::LinkExpired`].
    pub async fn open_download(&self, location: &str) -> Result<Download> {
        let url = url::Url::parse(location).map_err(|e| Error::Decode {
            endpoint: ENDPOINT.into(),
            detail: format!("bad location: {e}"),
        })?;
        if !(url.scheme() == "https" || (url.scheme() == "http" && is_loopback(&url))) {
            return Err(Error::Decode {
                endpoint: ENDPOINT.into(),
                detail: "the export location is neither HTTPS nor on loopback".into(),
            });
        }
        // Opening is retried like any read (the shared policy of `Retries`: 5xx and broken
        // connections back off, a 429 is waited out). A download that breaks later is the
        // caller's to restart (it knows how many lines it has already used).
        let mut retries = Retries::new(self, ENDPOINT);
        loop {
            self.count_request();
            match self.download_http.get(url.clone()).send().await {
                Ok(resp) => match resp.status() {
                    StatusCode::OK => return Ok(Download { resp, received: 0 }),
                    StatusCode::FORBIDDEN => return Err(Error::LinkExpired),
                    StatusCode::TOO_MANY_REQUESTS => retries.rate_limited(resp.headers()).await?,
                    s => {
                        if !retries
                            .after_failure(is_server_error(s), || format!("HTTP {s}"))
                            .await
                        {
                            let body = resp.bytes().await.unwrap_or_default();
                            return Err(Error::from_response(s.as_u16(), &body, ENDPOINT));
                        }
                    }
                },
                Err(e) => {
                    if !retries.after_failure(true, || describe(&e)).await {
                        return Err(Error::Transport {
                            endpoint: ENDPOINT.into(),
                            attempts: retries.attempts,
                            detail: describe(&e),
                            timed_out: e.is_timeout(),
                            maybe_delivered: !e.is_connect(),
                        });
                    }
                }
            }
        }
    }
}

impl Download {
    /// The next chunk of the compressed file, `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>> {
        match self.resp.chunk().await {
            Ok(Some(c)) => {
                self.received += c.len() as u64;
                Ok(Some(c))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(Error::Transport {
                endpoint: ENDPOINT.into(),
                attempts: 1,
                detail: crate::transport::describe(&e),
                timed_out: e.is_timeout(),
                maybe_delivered: true,
            }),
        }
    }
}

#[derive(Debug)]
enum Stage {
    /// Collecting a member's header (10 bytes plus optional fields).
    Header,
    Body,
    /// Collecting the 8-byte trailer (CRC32, size).
    Trailer,
    /// A member ended; more bytes start another member.
    Done,
}

/// Push compressed chunks in, take complete lines out.
pub struct GzipLines {
    stage: Stage,
    pending: Vec<u8>,
    inflate: Decompress,
    crc: Crc,
    out: Vec<u8>,
    /// Start of the first line not yet taken in `out`.
    start: usize,
}

impl Default for GzipLines {
    fn default() -> Self {
        GzipLines {
            stage: Stage::Header,
            pending: Vec::new(),
            inflate: Decompress::new(false),
            crc: Crc::new(),
            out: Vec::new(),
            start: 0,
        }
    }
}

fn corrupt(detail: impl Into<String>) -> Error {
    Error::Decode {
        endpoint: ENDPOINT.into(),
        detail: format!("corrupt gzip: {}", detail.into()),
    }
}

/// Length of a complete gzip header at the start of `b`, if it is all there.
fn header_len(b: &[u8]) -> Result<Option<usize>> {
    if b.len() < 10 {
        return Ok(None);
    }
    if b[0] != 0x1f || b[1] != 0x8b || b[2] != 8 {
        return Err(corrupt("not a gzip file"));
    }
    let flags = b[3];
    let mut n = 10;
    if flags & 0x04 != 0 {
        if b.len() < n + 2 {
            return Ok(None);
        }
        n += 2 + u16::from_le_bytes([b[n], b[n + 1]]) as usize;
    }
    for bit in [0x08u8, 0x10] {
        if flags & bit != 0 {
            match b.get(n..).and_then(|r| r.iter().position(|&c| c == 0)) {
                Some(z) => n += z + 1,
                None => return Ok(None),
            }
        }
    }
    if flags & 0x02 != 0 {
        n += 2;
    }
    Ok(if b.len() >= n { Some(n) } else { None })
}

impl GzipLines {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds compressed bytes.
    pub fn push(&mut self, mut input: &[u8]) -> Result<()> {
        // Drop the lines already taken before growing the buffer.
        if self.start > 0 && self.start * 2 >= self.out.len() {
            self.out.drain(..self.start);
            self.start = 0;
        }
        loop {
            match self.stage {
                Stage::Done if input.is_empty() => return Ok(()),
                Stage::Done => {
                    self.stage = Stage::Header;
                    self.inflate.reset(false);
                    self.crc.reset();
                }
                Stage::Header => {
                    self.pending.extend_from_slice(input);
                    input = &[];
                    match header_len(&self.pending)? {
                        None => return Ok(()),
                        Some(n) => {
                            let rest = self.pending.split_off(n);
                            self.pending.clear();
                            self.stage = Stage::Body;
                            self.inflate_some(&rest)?;
                        }
                    }
                }
                Stage::Body => {
                    let used = self.inflate_some(input)?;
                    input = &input[used..];
                    if matches!(self.stage, Stage::Body) {
                        return Ok(());
                    }
                }
                Stage::Trailer => {
                    let need = 8 - self.pending.len();
                    let take = need.min(input.len());
                    self.pending.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    if self.pending.len() < 8 {
                        return Ok(());
                    }
                    let crc = u32::from_le_bytes([
                        self.pending[0],
                        self.pending[1],
                        self.pending[2],
                        self.pending[3],
                    ]);
                    let size = u32::from_le_bytes([
                        self.pending[4],
                        self.pending[5],
                        self.pending[6],
                        self.pending[7],
                    ]);
                    if crc != self.crc.sum() || size != self.crc.amount() {
                        return Err(corrupt("checksum mismatch"));
                    }
                    self.pending.clear();
                    self.stage = Stage::Done;
                }
            }
        }
    }

    /// Inflates from `input` until it is used up or the deflate stream ends; returns the bytes
    /// of `input` consumed (anything after the stream's end belongs to the trailer).
    fn inflate_some(&mut self, input: &[u8]) -> Result<usize> {
        let mut consumed = 0;
        loop {
            if self.out.capacity() - self.out.len() < 32 * 1024 {
                self.out.reserve(64 * 1024);
            }
            let before_in = self.inflate.total_in();
            let before_out = self.out.len();
            let status = self
                .inflate
                .decompress_vec(&input[consumed..], &mut self.out, FlushDecompress::None)
                .map_err(|e| corrupt(e.to_string()))?;
            consumed += (self.inflate.total_in() - before_in) as usize;
            self.crc.update(&self.out[before_out..]);
            match status {
                Status::StreamEnd => {
                    self.stage = Stage::Trailer;
                    self.pending.clear();
                    let rest = &input[consumed..];
                    let take = rest.len().min(8);
                    self.pending.extend_from_slice(&rest[..take]);
                    consumed += take;
                    return Ok(consumed);
                }
                // No progress: everything available has been inflated.
                _ if self.inflate.total_in() == before_in && self.out.len() == before_out => {
                    return Ok(consumed)
                }
                _ => {}
            }
        }
    }

    /// The next complete line (without its newline), if one is buffered.
    pub fn next_line(&mut self) -> Option<&[u8]> {
        let rest = &self.out[self.start..];
        let nl = rest.iter().position(|&b| b == b'\n')?;
        let line = &self.out[self.start..self.start + nl];
        self.start += nl + 1;
        Some(line)
    }

    /// Checks that the file ended cleanly; returns the last line if it had no newline.
    pub fn finish(&mut self) -> Result<Option<Vec<u8>>> {
        match self.stage {
            Stage::Done => {}
            Stage::Header
                if self.pending.is_empty()
                    && self.inflate.total_in() == 0
                    && self.out.is_empty() =>
            {
                return Err(corrupt("empty file"))
            }
            _ => return Err(Error::Truncated),
        }
        let rest = &self.out[self.start..];
        self.start = self.out.len();
        Ok(if rest.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            Some(rest.to_vec())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn gz(text: &str) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    fn lines_of(data: &[u8], chunk: usize) -> Result<Vec<String>> {
        let mut d = GzipLines::new();
        let mut out = Vec::new();
        for c in data.chunks(chunk) {
            d.push(c)?;
            while let Some(l) = d.next_line() {
                out.push(String::from_utf8(l.to_vec()).unwrap());
            }
        }
        if let Some(last) = d.finish()? {
            out.push(String::from_utf8(last).unwrap());
        }
        Ok(out)
    }

    #[test]
    fn lines_come_out_whatever_the_chunking() {
        let text: String = (0..5000)
            .map(|i| format!("{{\"user_id\":\"auth0|{i}\",\"n\":{i}}}\n"))
            .collect();
        let data = gz(&text);
        for chunk in [1, 7, 100, 4096, data.len()] {
            let lines = lines_of(&data, chunk).unwrap();
            assert_eq!(lines.len(), 5000, "chunk {chunk}");
            assert_eq!(lines[4999], "{\"user_id\":\"auth0|4999\",\"n\":4999}");
        }
        assert_eq!(lines_of(&gz("a\nb"), 3).unwrap(), vec!["a", "b"]);
    }

    #[test]
    fn truncation_and_corruption_are_errors() {
        let data = gz(&"x\n".repeat(10_000));
        for cut in [5, 20, data.len() / 2, data.len() - 4, data.len() - 1] {
            assert!(
                matches!(lines_of(&data[..cut], 64), Err(Error::Truncated)),
                "cut at {cut}"
            );
        }
        let mut bad = data.clone();
        let n = bad.len();
        bad[n - 6] ^= 0xff; // crc
        assert!(matches!(lines_of(&bad, 64), Err(Error::Decode { .. })));
        assert!(matches!(
            lines_of(b"not gzip at all", 4),
            Err(Error::Decode { .. })
        ));
    }

    #[test]
    fn memory_stays_bounded() {
        let text: String = (0..200_000)
            .map(|i| format!("line number {i:08}\n"))
            .collect();
        let data = gz(&text);
        let mut d = GzipLines::new();
        let mut max_buf = 0;
        let mut n = 0;
        for c in data.chunks(16 * 1024) {
            d.push(c).unwrap();
            while d.next_line().is_some() {
                n += 1;
            }
            max_buf = max_buf.max(d.out.capacity());
        }
        d.finish().unwrap();
        assert_eq!(n, 200_000);
        assert!(max_buf < 8 * 1024 * 1024, "{max_buf}");
    }
}
