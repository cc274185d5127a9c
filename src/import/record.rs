//! One import as the ledger knows it: its events (in journal order) folded into a record. Pure:
//! whether the submitting session is still alive is asked by the caller (`Submission`).

use super::ledger::{from_ranges, DirectFailure, Event, Invalid};

/// A file whose answer was lost (`ChunkUnknown`), and what looking its users up found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Unknown {
    pub chunk: usize,
    /// When the file was sent.
    pub at: String,
    pub indices: Vec<usize>,
    pub emails: Vec<String>,
    pub error: String,
    /// Found created since the import began.
    pub inserted: Vec<usize>,
    /// Found changed by this upsert.
    pub updated: Vec<usize>,
    /// Found there before the import and untouched (a non-upsert import: DUPLICATED_USER).
    pub existing: Vec<usize>,
    /// Still not there a day after the file was sent: not imported.
    pub absent: Vec<usize>,
}

impl Unknown {
    /// Users of the file whose outcome is still unknown.
    pub fn unresolved(&self) -> Vec<(usize, &str)> {
        self.indices
            .iter()
            .zip(&self.emails)
            .filter(|(i, _)| {
                !self.inserted.contains(i)
                    && !self.updated.contains(i)
                    && !self.existing.contains(i)
                    && !self.absent.contains(i)
            })
            .map(|(i, e)| (*i, e.as_str()))
            .collect()
    }
}

/// Where the submission of an import's files stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Submission {
    /// A session is submitting (or was, and nobody has checked yet that it is gone).
    Running,
    /// Every file was answered.
    Done,
    /// Stopped before every file was sent: why.
    Interrupted(String),
}

#[derive(Debug, Clone)]
pub struct ImportRecord {
    pub id: String,
    pub at: String,
    pub role: String,
    pub role_oid: Option<u32>,
    pub server: String,
    pub connection: String,
    pub connection_id: String,
    pub upsert: bool,
    pub external_id: Option<String>,
    pub send_completion_email: bool,
    pub total: usize,
    pub invalid: Vec<Invalid>,
    /// How many files the import was split into, and each one's input positions (empty for
    /// imports recorded before 0.2.0).
    pub files: usize,
    pub file_indices: Vec<Vec<usize>>,
    /// The files Auth0 made a job of.
    pub jobs: Vec<JobFile>,
    /// The files Auth0 refused (their users failed).
    pub refused: Vec<RefusedFile>,
    pub unknown: Vec<Unknown>,
    pub submission: Submission,
    /// Once final.
    pub summary: Option<Summary>,
    /// Users changed one request each (`UPDATE` through `PATCH`, `DELETE`), not by jobs.
    pub direct: Option<Direct>,
}

/// A direct import's users and their answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Direct {
    /// `"update"` or `"delete"`.
    pub operation: String,
    pub user_ids: Vec<String>,
    /// Answered: changed (or deleted).
    pub done: Vec<usize>,
    /// Answered: not changed, with Auth0's answer.
    pub failed: Vec<DirectFailure>,
    /// Sent with no answer recorded: Auth0 may have changed them.
    pub unanswered: Vec<usize>,
}

impl Direct {
    /// `users_update` or `users_delete` (the `type` of `auth0_job_status`).
    pub fn job_type(&self) -> String {
        format!("users_{}", self.operation)
    }
}

/// A file Auth0 accepted as a job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobFile {
    pub auth0_job_id: String,
    /// The file's number (0-based).
    pub file: usize,
    /// Its users' positions in the submitted array, and their e-mails (lower case).
    pub indices: Vec<usize>,
    pub emails: Vec<String>,
}

/// A file Auth0 refused with an error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RefusedFile {
    pub file: usize,
    pub indices: Vec<usize>,
    pub emails: Vec<String>,
    /// Auth0's answer.
    pub error: String,
}

/// An import's final counts, recorded once every job has finished.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub status: String,
    pub inserted: u64,
    pub updated: u64,
    pub failed: u64,
    pub total: u64,
    /// When it was recorded (ISO 8601).
    pub at: String,
}

/// Folds one import's events into its record; `None` without its `Import` event.
pub fn fold(events: impl IntoIterator<Item = Event>) -> Option<ImportRecord> {
    let mut rec: Option<ImportRecord> = None;
    for ev in events {
        if let Event::Import {
            id,
            at,
            role,
            role_oid,
            server,
            connection,
            connection_id,
            upsert,
            external_id,
            send_completion_email,
            total,
            invalid,
            chunks,
            chunk_indices,
            direct,
        } = ev
        {
            rec = Some(ImportRecord {
                id,
                at,
                role,
                role_oid,
                server,
                connection,
                connection_id,
                upsert,
                external_id,
                send_completion_email,
                total,
                invalid,
                files: chunks,
                file_indices: chunk_indices.iter().map(from_ranges).collect(),
                jobs: vec![],
                refused: vec![],
                unknown: vec![],
                submission: Submission::Running,
                summary: None,
                direct: direct.map(|d| Direct {
                    operation: d.operation,
                    user_ids: d.user_ids,
                    done: vec![],
                    failed: vec![],
                    unanswered: vec![],
                }),
            });
            continue;
        }
        let Some(r) = rec.as_mut() else { continue };
        match ev {
            Event::Import { .. } => {}
            Event::Applying { indices, .. } => {
                if let Some(d) = r.direct.as_mut() {
                    // A resume sends unanswered users again: each is listed once.
                    for i in from_ranges(&indices) {
                        if !d.unanswered.contains(&i) {
                            d.unanswered.push(i);
                        }
                    }
                }
            }
            Event::Applied {
                done,
                failed,
                unsent,
                ..
            } => {
                if let Some(d) = r.direct.as_mut() {
                    let done = from_ranges(&done);
                    let unsent = from_ranges(&unsent);
                    d.unanswered.retain(|i| {
                        !done.contains(i)
                            && !unsent.contains(i)
                            && !failed.iter().any(|f| f.index == *i)
                    });
                    d.done.extend(done);
                    d.failed.extend(failed);
                }
            }
            Event::Job {
                auth0_job_id,
                chunk,
                indices,
                emails,
                ..
            } => {
                r.unknown.retain(|u| u.chunk != chunk);
                r.jobs.push(JobFile {
                    auth0_job_id,
                    file: chunk,
                    indices: from_ranges(&indices),
                    emails,
                })
            }
            Event::ChunkFailed {
                chunk,
                indices,
                emails,
                error,
                ..
            } => {
                r.unknown.retain(|u| u.chunk != chunk);
                r.refused.push(RefusedFile {
                    file: chunk,
                    indices: from_ranges(&indices),
                    emails,
                    error,
                })
            }
            // Sent with no answer yet: if nothing follows, its answer was lost.
            Event::Sending {
                chunk,
                indices,
                emails,
                at,
                ..
            } => r.lost(
                chunk,
                &indices,
                emails,
                "the submission stopped while this file was being sent".into(),
                at,
            ),
            Event::Unsent { chunk, .. } => r.unknown.retain(|u| u.chunk != chunk),
            Event::ChunkUnknown {
                chunk,
                indices,
                emails,
                error,
                at,
                ..
            } => r.lost(chunk, &indices, emails, error, at),
            Event::Reconciled {
                chunk,
                inserted,
                updated,
                existing,
                absent,
                ..
            } => {
                if let Some(u) = r.unknown.iter_mut().find(|u| u.chunk == chunk) {
                    // Only users still unresolved: a second lookup never counts one twice.
                    let open: Vec<usize> = u.unresolved().iter().map(|(i, _)| *i).collect();
                    let take = |ranges: &super::ledger::Ranges| -> Vec<usize> {
                        from_ranges(ranges)
                            .into_iter()
                            .filter(|i| open.contains(i))
                            .collect()
                    };
                    let (ins, upd, ex, ab) = (
                        take(&inserted),
                        take(&updated),
                        take(&existing),
                        take(&absent),
                    );
                    u.inserted.extend(ins);
                    u.updated.extend(upd);
                    u.existing.extend(ex);
                    u.absent.extend(ab);
                }
                r.summary = None;
            }
            Event::Resumed { .. } => {
                r.submission = Submission::Running;
                r.summary = None;
            }
            Event::Submitted { .. } => r.submission = Submission::Done,
            Event::Interrupted { reason, .. } => r.submission = Submission::Interrupted(reason),
            Event::Summary {
                at,
                status,
                inserted,
                updated,
                failed,
                total,
                ..
            } => {
                r.summary = Some(Summary {
                    status,
                    inserted,
                    updated,
                    failed,
                    total,
                    at,
                })
            }
        }
    }
    rec
}

impl ImportRecord {
    /// File `chunk` was sent and its answer is not known (yet).
    fn lost(
        &mut self,
        chunk: usize,
        indices: &super::ledger::Ranges,
        emails: Vec<String>,
        error: String,
        at: String,
    ) {
        self.unknown.retain(|u| u.chunk != chunk);
        self.unknown.push(Unknown {
            chunk,
            at,
            indices: from_ranges(indices),
            emails,
            error,
            ..Unknown::default()
        });
    }

    /// File numbers that were never answered: neither a job, nor refused, nor sent with a lost
    /// answer. These are the files `auth0_import_resume` sends.
    pub fn unsent_files(&self) -> Vec<usize> {
        (0..self.files)
            .filter(|n| {
                !self.jobs.iter().any(|j| j.file == *n)
                    && !self.refused.iter().any(|r| r.file == *n)
                    && !self.unknown.iter().any(|u| u.chunk == *n)
            })
            .collect()
    }

    /// The input positions never sent to Auth0 after an interrupted submission: neither refused
    /// by validation nor in any answered file.
    pub fn unsubmitted_indices(&self) -> Vec<usize> {
        if !matches!(self.submission, Submission::Interrupted(_)) {
            return vec![];
        }
        let mut accounted = vec![false; self.total];
        let mut mark = |i: usize| {
            if let Some(slot) = accounted.get_mut(i) {
                *slot = true;
            }
        };
        self.invalid.iter().for_each(|inv| mark(inv.index));
        self.jobs
            .iter()
            .flat_map(|j| j.indices.iter())
            .for_each(|&i| mark(i));
        self.refused
            .iter()
            .flat_map(|r| r.indices.iter())
            .for_each(|&i| mark(i));
        self.unknown
            .iter()
            .flat_map(|u| u.indices.iter())
            .for_each(|&i| mark(i));
        if let Some(d) = &self.direct {
            d.done
                .iter()
                .chain(d.failed.iter().map(|f| &f.index))
                .chain(&d.unanswered)
                .for_each(|&i| mark(i));
        }
        (0..self.total).filter(|&i| !accounted[i]).collect()
    }

    /// Users in a job (what Auth0 reports on).
    pub fn submitted_users(&self) -> usize {
        self.jobs.iter().map(|j| j.indices.len()).sum()
    }

    /// Users of lost-answer files not yet found: neither imported nor failed.
    pub fn unresolved_users(&self) -> usize {
        let direct = match &self.direct {
            // While a session sends them, unanswered requests are on their way.
            Some(d) if self.submission != Submission::Running => d.unanswered.len(),
            _ => 0,
        };
        self.unknown
            .iter()
            .map(|u| u.unresolved().len())
            .sum::<usize>()
            + direct
    }

    /// (inserted, updated, failed) known without asking Auth0 about its jobs: validation
    /// refusals, unsent users, refused files, and what reconciliation found.
    pub fn local_counts(&self) -> (u64, u64, u64) {
        let failed = self.invalid.len()
            + self.unsubmitted_indices().len()
            + self.refused.iter().map(|r| r.indices.len()).sum::<usize>()
            + self
                .unknown
                .iter()
                .map(|u| u.existing.len() + u.absent.len())
                .sum::<usize>();
        let inserted: usize = self.unknown.iter().map(|u| u.inserted.len()).sum();
        let mut updated: usize = self.unknown.iter().map(|u| u.updated.len()).sum();
        let mut failed = failed;
        if let Some(d) = &self.direct {
            // A deleted user is neither inserted nor updated: it is `total - failed`.
            if d.operation == "update" {
                updated += d.done.len();
            }
            failed += d.failed.len();
        }
        (inserted as u64, updated as u64, failed as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::ledger::to_ranges;

    fn import(total: usize, files: Vec<Vec<usize>>) -> Event {
        Event::Import {
            id: "imp_1".into(),
            at: "t".into(),
            role: "r".into(),
            role_oid: Some(10),
            server: "s".into(),
            connection: "c".into(),
            connection_id: "con_1".into(),
            upsert: false,
            external_id: None,
            send_completion_email: false,
            total,
            invalid: vec![],
            chunks: files.len(),
            chunk_indices: files.iter().map(|f| to_ranges(f)).collect(),
            direct: None,
        }
    }

    fn job(n: usize, idx: Vec<usize>) -> Event {
        Event::Job {
            import: "imp_1".into(),
            auth0_job_id: format!("job_{n}"),
            chunk: n,
            emails: idx.iter().map(|i| format!("u{i}@x.com")).collect(),
            indices: to_ranges(&idx),
            at: "t".into(),
        }
    }

    #[test]
    fn a_file_being_sent_when_the_submission_stopped_is_never_sent_again() {
        let mut events = vec![
            import(4, vec![vec![0, 1], vec![2, 3]]),
            job(0, vec![0, 1]),
            Event::Sending {
                import: "imp_1".into(),
                chunk: 1,
                indices: to_ranges(&[2, 3]),
                emails: vec!["u2@x.com".into(), "u3@x.com".into()],
                at: "t".into(),
            },
            Event::Interrupted {
                import: "imp_1".into(),
                at: "t".into(),
                reason: "cancelled".into(),
            },
        ];
        let r = fold(events.clone()).unwrap();
        assert!(r.unsent_files().is_empty(), "it may have reached Auth0");
        assert_eq!(r.unresolved_users(), 2);
        assert!(r.unsubmitted_indices().is_empty());
        // Certainly not delivered: it is sent on resume.
        events.insert(
            3,
            Event::Unsent {
                import: "imp_1".into(),
                chunk: 1,
                reason: "connection refused".into(),
                at: "t".into(),
            },
        );
        let r = fold(events).unwrap();
        assert_eq!(r.unsent_files(), vec![1]);
        assert_eq!(r.unsubmitted_indices(), vec![2, 3]);
        assert_eq!(r.unresolved_users(), 0);
    }

    #[test]
    fn a_crashed_import_is_resumed_file_by_file() {
        let files = vec![vec![0, 1], vec![2, 3], vec![4]];
        let mut events = vec![import(5, files.clone()), job(0, vec![0, 1])];
        let r = fold(events.clone()).unwrap();
        assert_eq!(r.submission, Submission::Running);
        assert_eq!(r.unsent_files(), vec![1, 2]);
        assert!(r.unsubmitted_indices().is_empty(), "still running");
        events.push(Event::Interrupted {
            import: "imp_1".into(),
            at: "t".into(),
            reason: "gone".into(),
        });
        let r = fold(events.clone()).unwrap();
        assert_eq!(r.unsubmitted_indices(), vec![2, 3, 4]);
        assert_eq!(r.local_counts(), (0, 0, 3));
        events.push(Event::Resumed {
            import: "imp_1".into(),
            at: "t".into(),
            role: "r".into(),
        });
        events.push(job(1, vec![2, 3]));
        events.push(job(2, vec![4]));
        events.push(Event::Submitted {
            import: "imp_1".into(),
            at: "t".into(),
        });
        let r = fold(events).unwrap();
        assert_eq!(r.submission, Submission::Done);
        assert!(r.unsent_files().is_empty());
        assert!(r.unsubmitted_indices().is_empty());
        assert_eq!(r.submitted_users(), 5);
    }

    #[test]
    fn a_lost_answer_is_unknown_until_its_users_are_found() {
        let mut events = vec![
            import(3, vec![vec![0, 1, 2]]),
            Event::ChunkUnknown {
                import: "imp_1".into(),
                chunk: 0,
                indices: to_ranges(&[0, 1, 2]),
                emails: vec!["a@x.com".into(), "b@x.com".into(), "c@x.com".into()],
                error: "timed out".into(),
                at: "t".into(),
            },
            Event::Submitted {
                import: "imp_1".into(),
                at: "t".into(),
            },
        ];
        let r = fold(events.clone()).unwrap();
        assert_eq!(r.unresolved_users(), 3);
        assert_eq!(r.local_counts(), (0, 0, 0), "never a false failure");
        assert!(r.unsent_files().is_empty(), "never sent twice");
        events.push(Event::Reconciled {
            import: "imp_1".into(),
            chunk: 0,
            inserted: to_ranges(&[0, 2]),
            updated: vec![],
            existing: to_ranges(&[1]),
            absent: vec![],
            at: "t".into(),
        });
        // A second lookup reporting the same users counts nobody twice.
        events.push(events.last().unwrap().clone());
        let r = fold(events).unwrap();
        assert_eq!(r.unresolved_users(), 0);
        assert_eq!(r.local_counts(), (2, 0, 1));
    }

    #[test]
    fn a_direct_import_accounts_for_every_user_even_when_it_stops() {
        let mut start = import(5, vec![]);
        if let Event::Import { direct, .. } = &mut start {
            *direct = Some(crate::import::ledger::DirectWrites {
                operation: "update".into(),
                user_ids: (0..5).map(|i| format!("auth0|{i}")).collect(),
            });
        }
        let failure = DirectFailure {
            index: 1,
            code: "invalid_body".into(),
            message: "no".into(),
        };
        let events = vec![
            start,
            Event::Applying {
                import: "imp_1".into(),
                indices: to_ranges(&[0, 1, 2]),
                at: "t".into(),
            },
            Event::Applied {
                import: "imp_1".into(),
                done: to_ranges(&[0]),
                failed: vec![failure.clone()],
                unsent: vec![],
                at: "t".into(),
            },
        ];
        // Running: 2 is on its way.
        let r = fold(events.clone()).unwrap();
        let d = r.direct.clone().unwrap();
        assert_eq!((d.done, d.unanswered), (vec![0], vec![2]));
        assert_eq!(r.unresolved_users(), 0);
        assert_eq!(r.local_counts(), (0, 1, 1));
        // Stopped: 2 is unknown, 3 and 4 were never sent.
        let mut stopped = events.clone();
        stopped.push(Event::Interrupted {
            import: "imp_1".into(),
            at: "t".into(),
            reason: "gone".into(),
        });
        let r = fold(stopped).unwrap();
        assert_eq!(r.unresolved_users(), 1);
        assert_eq!(r.unsubmitted_indices(), vec![3, 4]);
        assert_eq!(r.local_counts(), (0, 1, 3));
        // A window cut short by a stop records its unsent users: only the one in flight is
        // unknown.
        let mut cut = events;
        cut[2] = Event::Applied {
            import: "imp_1".into(),
            done: to_ranges(&[0]),
            failed: vec![failure],
            unsent: to_ranges(&[2]),
            at: "t".into(),
        };
        cut.push(Event::Interrupted {
            import: "imp_1".into(),
            at: "t".into(),
            reason: "stopped".into(),
        });
        let r = fold(cut).unwrap();
        assert_eq!(r.unresolved_users(), 0);
        assert_eq!(r.unsubmitted_indices(), vec![2, 3, 4]);
    }
}
