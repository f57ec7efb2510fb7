//! `limit` and `marker` as OpenStack APIs understand them.

use tricircle_common::{Error, Result};

/// A validated page request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest<M> {
    pub limit: u32,
    pub marker: Option<M>,
}

/// Turn the client's `limit` into the page size: absent or 0 means the
/// maximum (upstream Tricircle and Nova agree), larger values are clamped
/// to it, negative values are an error.
pub fn page_limit(requested: Option<i64>, max: u32) -> Result<u32> {
    match requested {
        None | Some(0) => Ok(max),
        Some(n) if n < 0 => Err(Error::bad_request(format!(
            "Invalid limit {n}: it must be a non-negative integer."
        ))),
        Some(n) => Ok(u32::try_from(n).unwrap_or(u32::MAX).min(max)),
    }
}

#[cfg(test)]
mod tests {
    use super::page_limit;

    #[test]
    fn limits() {
        assert_eq!(page_limit(None, 100).unwrap(), 100);
        assert_eq!(page_limit(Some(0), 100).unwrap(), 100);
        assert_eq!(page_limit(Some(7), 100).unwrap(), 7);
        assert_eq!(page_limit(Some(i64::MAX), 100).unwrap(), 100);
        assert_eq!(page_limit(Some(-1), 100).unwrap_err().status(), 400);
    }
}
