//! Splitting a batch into import files of at most Auth0's size, in input order, each file
//! remembering which input positions it holds.

use serde_json::Value;

/// Auth0's limit on a users-imports request (413 above it).
pub const MAX_REQUEST_BYTES: usize = 512_000;
/// Room kept for the other multipart parts (connection_id, upsert, external_id, boundaries):
/// the request as a whole must fit, not only the file.
const ENVELOPE_BYTES: usize = 2_048;
/// The largest users file we send.
pub const MAX_FILE_BYTES: usize = MAX_REQUEST_BYTES - ENVELOPE_BYTES;

/// One import file: a JSON array and the input index of each of its users, in order.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub indices: Vec<usize>,
    pub body: Vec<u8>,
}

/// Packs `(input index, record)` pairs into files of at most `max_bytes`, greedily and in
/// order. A record that cannot fit in a file alone is returned as `Err(index, size)`.
pub fn split<'a>(
    records: impl IntoIterator<Item = (usize, &'a Value)>,
    max_bytes: usize,
) -> Result<Vec<Chunk>, (usize, usize)> {
    let mut splitter = Splitter::new(max_bytes);
    let mut chunks = Vec::new();
    for (index, record) in records {
        chunks.extend(splitter.push(index, record)?);
    }
    chunks.extend(splitter.finish());
    Ok(chunks)
}

/// Packs records into files one record at a time (the streaming form of [`split`]): only the
/// file being filled is held.
pub struct Splitter {
    max_bytes: usize,
    cur: Chunk,
    buf: Vec<u8>,
}

impl Splitter {
    pub fn new(max_bytes: usize) -> Self {
        Splitter {
            max_bytes,
            cur: Self::empty(max_bytes),
            buf: Vec::new(),
        }
    }

    fn empty(max_bytes: usize) -> Chunk {
        Chunk {
            indices: Vec::new(),
            body: Vec::with_capacity(max_bytes.min(1 << 20)),
        }
    }

    /// Adds a record; returns the file it closed (full without it), if any. A record that
    /// cannot fit in a file alone is `Err(index, size)`.
    pub fn push(&mut self, index: usize, record: &Value) -> Result<Option<Chunk>, (usize, usize)> {
        self.buf.clear();
        // Serialising a `Value` cannot fail (its keys are strings).
        let _ = serde_json::to_writer(&mut self.buf, record);
        // "[" + record + "]" alone must fit.
        if self.buf.len() + 2 > self.max_bytes {
            return Err((index, self.buf.len()));
        }
        // Current body + "," + record + "]".
        let needed = self.cur.body.len().max(1) + 1 + self.buf.len() + 1;
        let mut closed = None;
        if !self.cur.indices.is_empty() && needed > self.max_bytes {
            let mut full = std::mem::replace(&mut self.cur, Self::empty(self.max_bytes));
            full.body.push(b']');
            closed = Some(full);
        }
        let cur = &mut self.cur;
        cur.body
            .push(if cur.indices.is_empty() { b'[' } else { b',' });
        cur.body.extend_from_slice(&self.buf);
        cur.indices.push(index);
        Ok(closed)
    }

    /// The records added since the last closed file, as a file (`None` when there are none).
    pub fn finish(mut self) -> Option<Chunk> {
        if self.cur.indices.is_empty() {
            return None;
        }
        self.cur.body.push(b']');
        Some(self.cur)
    }

    /// Records in the file being filled.
    pub fn pending(&self) -> usize {
        self.cur.indices.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn files_fit_and_keep_order_and_indices() {
        let users: Vec<Value> = (0..3000)
            .map(|i| json!({"email": format!("user{i}@example.com"), "user_metadata": {"bio": "x".repeat(i % 700)}}))
            .collect();
        let chunks = split(
            users.iter().enumerate().filter(|(i, _)| i % 10 != 3),
            MAX_FILE_BYTES,
        )
        .unwrap();
        assert!(chunks.len() > 2);
        let mut expected = (0..3000).filter(|i| i % 10 != 3);
        for c in &chunks {
            assert!(c.body.len() <= MAX_FILE_BYTES);
            let parsed: Vec<Value> = serde_json::from_slice(&c.body).unwrap();
            assert_eq!(parsed.len(), c.indices.len());
            for (u, &i) in parsed.iter().zip(&c.indices) {
                assert_eq!(expected.next(), Some(i));
                assert_eq!(u, &users[i]);
            }
        }
        assert_eq!(expected.next(), None);
        // Files are full: every file but the last could not take the next record.
        for w in chunks.windows(2) {
            let next = serde_json::to_vec(&users[w[1].indices[0]]).unwrap();
            assert!(w[0].body.len() + next.len() + 1 > MAX_FILE_BYTES);
        }
    }

    #[test]
    fn a_record_too_big_for_any_file() {
        let users = [
            json!({"email": "a@x.com"}),
            json!({"email": "b@x.com", "user_metadata": {"blob": "x".repeat(600_000)}}),
        ];
        assert_eq!(
            split(users.iter().enumerate(), MAX_FILE_BYTES)
                .unwrap_err()
                .0,
            1
        );
        assert!(split(std::iter::empty(), MAX_FILE_BYTES)
            .unwrap()
            .is_empty());
    }
}
