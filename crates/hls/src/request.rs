//! Blocking playlist reload and delta update requests (RFC 8216bis §6.2.5.1, §6.2.5.2): the
//! `_HLS_msn`, `_HLS_part` and `_HLS_skip` query parameters, and when a request can be answered.

/// Parts a client may ask for beyond the last one that exists (the Advance Part Limit).
pub const ADVANCE_PART_LIMIT: u32 = 3;
/// Segments a client may ask for beyond the last one that exists.
pub const ADVANCE_SEGMENT_LIMIT: u64 = 2;
/// Longest query string considered.
pub const MAX_QUERY_LENGTH: usize = 2048;

/// Errors in the query: each is a 400 Bad Request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("_HLS_part requires _HLS_msn")]
    PartWithoutMsn,
    #[error("{0} is not a valid number")]
    NotANumber(&'static str),
    #[error("{0} is given more than once")]
    Duplicate(&'static str),
    #[error("_HLS_skip must be YES or v2")]
    BadSkip,
    #[error("query string longer than MAX_QUERY_LENGTH ({MAX_QUERY_LENGTH})")]
    TooLong,
}

/// Delta update kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    Yes,
    V2,
}

/// The LL-HLS part of a playlist request's query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HlsQuery {
    pub msn: Option<u64>,
    pub part: Option<u32>,
    pub skip: Option<Skip>,
}

/// Parses the query string (without the `?`). Unknown parameters are ignored.
pub fn parse_query(query: &str) -> Result<HlsQuery, RequestError> {
    if query.len() > MAX_QUERY_LENGTH {
        return Err(RequestError::TooLong);
    }
    let mut q = HlsQuery::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "_HLS_msn" => {
                if q.msn.is_some() {
                    return Err(RequestError::Duplicate("_HLS_msn"));
                }
                q.msn = Some(
                    v.parse()
                        .map_err(|_| RequestError::NotANumber("_HLS_msn"))?,
                );
            }
            "_HLS_part" => {
                if q.part.is_some() {
                    return Err(RequestError::Duplicate("_HLS_part"));
                }
                q.part = Some(
                    v.parse()
                        .map_err(|_| RequestError::NotANumber("_HLS_part"))?,
                );
            }
            "_HLS_skip" => {
                if q.skip.is_some() {
                    return Err(RequestError::Duplicate("_HLS_skip"));
                }
                q.skip = Some(match v {
                    "YES" => Skip::Yes,
                    "v2" => Skip::V2,
                    _ => return Err(RequestError::BadSkip),
                });
            }
            _ => {}
        }
    }
    if q.part.is_some() && q.msn.is_none() {
        return Err(RequestError::PartWithoutMsn);
    }
    Ok(q)
}

/// Where the live edge is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveEdge {
    /// The last complete segment, if any.
    pub last_complete_msn: Option<u64>,
    /// Parts of the last complete segment.
    pub last_complete_parts: u32,
    /// The segment being written (normally last complete + 1).
    pub current_msn: u64,
    /// Parts of it that exist.
    pub current_parts: u32,
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Answer now.
    Ready,
    /// Hold until the live edge moves.
    Wait,
    /// 400: asks too far ahead.
    BadRequest(String),
}

/// Decides a blocking request (`q.msn` set) against the live edge.
pub fn evaluate(q: &HlsQuery, edge: &LiveEdge) -> Decision {
    let Some(m) = q.msn else {
        return Decision::Ready;
    };
    let last = edge.last_complete_msn;
    // §6.2.5.2: more than two segments beyond the last one in the playlist is an error.
    let horizon = last
        .map(|l| l + ADVANCE_SEGMENT_LIMIT)
        .unwrap_or(edge.current_msn + ADVANCE_SEGMENT_LIMIT - 1);
    if m > horizon {
        return Decision::BadRequest(format!(
            "_HLS_msn={m} is more than {ADVANCE_SEGMENT_LIMIT} segments ahead"
        ));
    }
    match q.part {
        None => {
            if last.is_some_and(|l| l >= m) {
                Decision::Ready
            } else {
                Decision::Wait
            }
        }
        Some(p) => {
            if m == edge.current_msn {
                if p < edge.current_parts {
                    return Decision::Ready;
                }
                if p >= edge.current_parts + ADVANCE_PART_LIMIT {
                    return Decision::BadRequest(format!(
                        "_HLS_part={p} is more than {ADVANCE_PART_LIMIT} parts ahead"
                    ));
                }
                return Decision::Wait;
            }
            if m > edge.current_msn {
                return Decision::Wait;
            }
            // An older segment: ready unless it is the last complete one and the part asked
            // for is past its end with nothing newer yet ("part N or later").
            if Some(m) == last && p >= edge.last_complete_parts && edge.current_parts == 0 {
                return Decision::Wait;
            }
            Decision::Ready
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EDGE: LiveEdge = LiveEdge {
        last_complete_msn: Some(10),
        last_complete_parts: 10,
        current_msn: 11,
        current_parts: 3,
    };

    fn q(s: &str) -> HlsQuery {
        parse_query(s).unwrap()
    }

    #[test]
    fn parses_the_three_parameters() {
        assert_eq!(
            q("_HLS_msn=5&_HLS_part=2&_HLS_skip=YES&token=x"),
            HlsQuery {
                msn: Some(5),
                part: Some(2),
                skip: Some(Skip::Yes)
            }
        );
        assert_eq!(q(""), HlsQuery::default());
        assert_eq!(
            parse_query("_HLS_part=1"),
            Err(RequestError::PartWithoutMsn)
        );
        assert_eq!(
            parse_query("_HLS_msn=x"),
            Err(RequestError::NotANumber("_HLS_msn"))
        );
        assert_eq!(
            parse_query("_HLS_msn=-1"),
            Err(RequestError::NotANumber("_HLS_msn"))
        );
        assert_eq!(
            parse_query("_HLS_msn=1&_HLS_msn=2"),
            Err(RequestError::Duplicate("_HLS_msn"))
        );
        assert_eq!(parse_query("_HLS_skip=no"), Err(RequestError::BadSkip));
        assert_eq!(parse_query(&"a".repeat(3000)), Err(RequestError::TooLong));
    }

    #[test]
    fn blocking_rules_follow_the_spec() {
        assert_eq!(
            evaluate(&q("_HLS_msn=11&_HLS_part=2"), &EDGE),
            Decision::Ready
        );
        assert_eq!(
            evaluate(&q("_HLS_msn=11&_HLS_part=3"), &EDGE),
            Decision::Wait
        );
        assert_eq!(
            evaluate(&q("_HLS_msn=11&_HLS_part=5"), &EDGE),
            Decision::Wait
        );
        assert!(matches!(
            evaluate(&q("_HLS_msn=11&_HLS_part=6"), &EDGE),
            Decision::BadRequest(_)
        ));
        assert_eq!(evaluate(&q("_HLS_msn=10"), &EDGE), Decision::Ready);
        assert_eq!(evaluate(&q("_HLS_msn=11"), &EDGE), Decision::Wait);
        assert_eq!(evaluate(&q("_HLS_msn=12"), &EDGE), Decision::Wait);
        assert_eq!(
            evaluate(&q("_HLS_msn=12&_HLS_part=0"), &EDGE),
            Decision::Wait
        );
        assert!(matches!(
            evaluate(&q("_HLS_msn=13"), &EDGE),
            Decision::BadRequest(_)
        ));
        assert_eq!(
            evaluate(&q("_HLS_msn=3&_HLS_part=0"), &EDGE),
            Decision::Ready
        );
        // Part past the end of the last complete segment, with a newer part already there.
        assert_eq!(
            evaluate(&q("_HLS_msn=10&_HLS_part=12"), &EDGE),
            Decision::Ready
        );
        let fresh = LiveEdge {
            current_parts: 0,
            ..EDGE
        };
        assert_eq!(
            evaluate(&q("_HLS_msn=10&_HLS_part=12"), &fresh),
            Decision::Wait
        );
        assert_eq!(evaluate(&q("_HLS_skip=YES"), &EDGE), Decision::Ready);
    }
}
