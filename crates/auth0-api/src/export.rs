//! Reading an export file as a stream: the download arrives in chunks, a gzip decoder turns them
//! into lines, and the caller takes one line (one user) at a time. Nothing holds the whole file.
//! A file that ends before its gzip trailer is an error, never a short result.

use crate::config::is_loopback;
use crate::error::{Error, Result};
use crate::transport::{describe, is_server_error, Client, Retries};
use bytes::Bytes;
use flate2::bufread::MultiGzDecoder;
use reqwest::StatusCode;
use std::io::{self, BufRead, Read};

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

/// The compressed bytes pushed and not yet decoded, read by the decoder. Running dry before the
/// end of the download is `WouldBlock` (flate2's decoder keeps its place and resumes on the next
/// push); after [`GzipLines::finish`] it is the end of the file, where a member cut short (in its
/// header, its data or its trailer) is `UnexpectedEof`.
#[derive(Default)]
struct Pushed {
    buf: Vec<u8>,
    pos: usize,
    ended: bool,
}

impl Read for Pushed {
    fn read(&mut self, into: &mut [u8]) -> io::Result<usize> {
        let n = {
            let have = self.fill_buf()?;
            let n = have.len().min(into.len());
            into[..n].copy_from_slice(&have[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Pushed {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.buf.len() && !self.ended {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
    }
}

/// Decompressed bytes are read in steps of this size.
const STEP: usize = 64 * 1024;

/// Push compressed chunks in, take complete lines out. The gzip framing (any number of members,
/// their headers, checksums and lengths) is flate2's `MultiGzDecoder`.
pub struct GzipLines {
    decoder: MultiGzDecoder<Pushed>,
    /// Compressed bytes pushed: none at all is an empty file rather than a cut one.
    pushed: u64,
    /// Decompressed bytes: lines not yet taken are `out[start..end]`; beyond `end`, room to
    /// decompress into (initialized once, reused after the taken lines are dropped).
    out: Vec<u8>,
    start: usize,
    end: usize,
    /// An error was returned: the decoder's state is not to be trusted any more.
    failed: bool,
}

impl Default for GzipLines {
    fn default() -> Self {
        GzipLines {
            decoder: MultiGzDecoder::new(Pushed::default()),
            pushed: 0,
            out: Vec::new(),
            start: 0,
            end: 0,
            failed: false,
        }
    }
}

fn corrupt(detail: impl Into<String>) -> Error {
    Error::Decode {
        endpoint: ENDPOINT.into(),
        detail: format!("corrupt gzip: {}", detail.into()),
    }
}

impl GzipLines {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds compressed bytes.
    pub fn push(&mut self, input: &[u8]) -> Result<()> {
        if self.failed {
            return Err(corrupt("the stream already failed"));
        }
        self.pushed += input.len() as u64;
        // Drop the lines already taken before decompressing more.
        if self.start > 0 && self.start * 2 >= self.end {
            self.out.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let src = self.decoder.get_mut();
        // The decoder reads everything pushed before it asks for more.
        src.buf.drain(..src.pos);
        src.pos = 0;
        src.buf.extend_from_slice(input);
        self.decompress()
    }

    /// Decompresses all that the bytes pushed so far give.
    fn decompress(&mut self) -> Result<()> {
        loop {
            if self.out.len() - self.end < STEP / 2 {
                self.out.resize(self.out.len() + STEP, 0);
            }
            let room = (self.end + STEP).min(self.out.len());
            match self.decoder.read(&mut self.out[self.end..room]) {
                // The end of the file, after the trailer of its last member.
                Ok(0) => return Ok(()),
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => {
                    self.failed = true;
                    return Err(if e.kind() == io::ErrorKind::UnexpectedEof {
                        Error::Truncated
                    } else {
                        corrupt(e.to_string())
                    });
                }
            }
        }
    }

    /// The next complete line (without its newline), if one is buffered.
    pub fn next_line(&mut self) -> Option<&[u8]> {
        let rest = &self.out[self.start..self.end];
        let nl = rest.iter().position(|&b| b == b'\n')?;
        let line = &self.out[self.start..self.start + nl];
        self.start += nl + 1;
        Some(line)
    }

    /// Checks that the file ended cleanly; returns the last line if it had no newline.
    pub fn finish(&mut self) -> Result<Option<Vec<u8>>> {
        if self.failed {
            return Err(corrupt("the stream already failed"));
        }
        if self.pushed == 0 {
            self.failed = true;
            return Err(corrupt("empty file"));
        }
        self.decoder.get_mut().ended = true;
        self.decompress()?;
        let rest = &self.out[self.start..self.end];
        self.start = self.end;
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

    /// Members of `parts` concatenated, and where each one ends.
    fn members(parts: &[&str]) -> (Vec<u8>, Vec<usize>) {
        let mut data = Vec::new();
        let mut ends = Vec::new();
        for p in parts {
            data.extend(gz(p));
            ends.push(data.len());
        }
        (data, ends)
    }

    fn is_decode(r: &Result<Vec<String>>) -> bool {
        matches!(r, Err(Error::Decode { detail, .. }) if detail.starts_with("corrupt gzip: "))
    }

    #[test]
    fn lines_run_across_members_and_pushes() {
        // "hello world" starts in the first member, goes through the whole second one and ends
        // in the third.
        let (data, _) = members(&["x\nhel", "lo wor", "ld\ny\n"]);
        for chunk in 1..=data.len() {
            assert_eq!(
                lines_of(&data, chunk).unwrap(),
                vec!["x", "hello world", "y"],
                "chunk {chunk}"
            );
        }
        // Big members, pushed in chunks that straddle their boundaries.
        let text: Vec<String> = (0..3000).map(|i| format!("{{\"n\":{i}}}\n")).collect();
        let (data, _) = members(&[
            &text[..1000].concat(),
            &text[1000..2000].concat(),
            &text[2000..].concat(),
        ]);
        for chunk in [1, 333, 4096, data.len()] {
            let lines = lines_of(&data, chunk).unwrap();
            assert_eq!(lines.len(), 3000, "chunk {chunk}");
            assert!(lines
                .iter()
                .enumerate()
                .all(|(i, l)| *l == format!("{{\"n\":{i}}}")));
        }
    }

    #[test]
    fn headers_with_optional_fields_pushed_a_byte_at_a_time() {
        let mut e = flate2::GzBuilder::new()
            .filename("users.json")
            .comment("export")
            .extra(vec![1, 2, 3])
            .write(Vec::new(), Compression::default());
        e.write_all(b"a\nb\n").unwrap();
        let mut data = e.finish().unwrap();
        data.extend(gz("c\n"));
        assert_eq!(lines_of(&data, 1).unwrap(), vec!["a", "b", "c"]);
    }

    #[test]
    fn a_cut_in_a_later_member_is_truncation() {
        let (data, ends) = members(&["a\n", &"b\n".repeat(5000), "c\n"]);
        // Anywhere inside the second member: its header, its data, its trailer.
        for cut in ends[0] + 1..ends[1] {
            for chunk in [1, 64] {
                if chunk == 1 && cut % 7 != 0 {
                    continue;
                }
                assert!(
                    matches!(lines_of(&data[..cut], chunk), Err(Error::Truncated)),
                    "cut at {cut}, chunk {chunk}"
                );
            }
        }
        // Inside the third one.
        for cut in ends[1] + 1..ends[2] {
            assert!(matches!(lines_of(&data[..cut], 64), Err(Error::Truncated)));
        }
        // A cut exactly between two members leaves a valid gzip file: the format cannot tell
        // (the same as before flate2, and as gzip -d).
        assert_eq!(lines_of(&data[..ends[0]], 64).unwrap(), vec!["a"]);
    }

    #[test]
    fn a_bad_checksum_or_length_in_any_member_is_corruption() {
        let (data, ends) = members(&["a\n", "b\n", "c\n"]);
        for end in ends {
            // The trailer is CRC32 then the length, both little-endian.
            for at in [end - 8, end - 5, end - 4, end - 1] {
                let mut bad = data.clone();
                bad[at] ^= 0x01;
                for chunk in [1, 5, data.len()] {
                    let r = lines_of(&bad, chunk);
                    assert!(is_decode(&r), "byte {at}, chunk {chunk}: {r:?}");
                }
            }
        }
        // Corrupt deflate data.
        let mut bad = gz(&"x\n".repeat(1000));
        bad[12] = 0xff;
        bad[13] = 0xff;
        assert!(is_decode(&lines_of(&bad, 64)));
    }

    #[test]
    fn what_follows_the_last_member_must_be_a_member() {
        let data = gz("a\nb\n");
        // A few bytes: the start of a header, cut.
        for tail in [&[0x1f, 0x8b][..], &[0u8; 9], b"garbage"] {
            let mut d = data.clone();
            d.extend_from_slice(tail);
            assert!(
                matches!(lines_of(&d, 64), Err(Error::Truncated)),
                "{tail:?}"
            );
        }
        // Ten bytes or more that are not a gzip header: corruption, reported by the push that
        // brings them (the lines before them are still delivered first).
        for tail in [&[0u8; 10][..], &[0u8; 512], b"trailing garbage\n"] {
            let mut d = data.clone();
            d.extend_from_slice(tail);
            assert!(is_decode(&lines_of(&d, 64)), "{tail:?}");
            let mut g = GzipLines::new();
            let mut e = g.push(&d).unwrap_err();
            assert!(matches!(e, Error::Decode { .. }), "{e:?}");
            assert!(g.next_line().is_some());
            // The error stays.
            e = g.finish().unwrap_err();
            assert!(matches!(e, Error::Decode { .. }), "{e:?}");
        }
    }

    #[test]
    fn empty_files_and_files_of_no_users() {
        match GzipLines::new().finish() {
            Err(Error::Decode { detail, .. }) => assert_eq!(detail, "corrupt gzip: empty file"),
            other => panic!("{other:?}"),
        }
        // Pushing nothing is not receiving anything.
        let mut d = GzipLines::new();
        d.push(&[]).unwrap();
        assert!(matches!(d.finish(), Err(Error::Decode { .. })));
        // A gzip file of nothing, in one member or several: zero lines.
        assert!(lines_of(&gz(""), 1).unwrap().is_empty());
        let (data, _) = members(&["", "", ""]);
        assert!(lines_of(&data, 3).unwrap().is_empty());
        let (data, _) = members(&["", "a\n", ""]);
        assert_eq!(lines_of(&data, 1).unwrap(), vec!["a"]);
    }
}
