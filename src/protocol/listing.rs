//! Long lists come in pages: `ORDERS [n]`, `LIST_CONTENT <user> [n]`, `TRANSFERS [n]`.
//!
//! Why: a reply is built in memory before it is sent, and the server cannot hold a table
//! lock while a client reads, so whatever a reply lists is copied out of the table
//! first. A list that grows without limit (a customer with 200,000 orders) would make
//! one request copy all of it, and thirty clients asking at once (and reading nothing)
//! took gigabytes. So a list verb shows at most [`MAX_LISTED`] rows, whatever the client
//! asks for, and the `OK` line says how many there are in all when the list was cut
//! ([`Page::summary`]), so a client knows there is more.
//!
//! A [`Page`] is collected in one pass over the list: the rows shown are cloned, the
//! others only counted. Nothing is allocated for the rows left out.

/// The most rows one list reply shows, whatever `n` asks for. With the protocol's
/// limits on names this bounds a reply: docs/PROTOCOL.md, "Long lists".
pub const MAX_LISTED: u64 = 1000;
/// How many movements `TRANSFERS` lists when `n` is left out.
pub const DEFAULT_TRANSFERS_LISTED: u64 = 20;
/// How many orders `ORDERS` lists when `n` is left out.
pub const DEFAULT_ORDERS_LISTED: u64 = 100;
/// How many files `LIST_CONTENT` lists when `n` is left out.
pub const DEFAULT_FILES_LISTED: u64 = 100;

/// The rows of one page, and how many rows the whole list has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The rows shown, in the list's order.
    pub rows: Vec<T>,
    /// How many rows the whole list has (`rows.len()` unless the list was cut).
    pub total: usize,
}

impl<T: Clone> Page<T> {
    /// The first `count` rows of `list` (cloned), and how many rows it has in all.
    ///
    /// ```
    /// use feira::protocol::listing::Page;
    /// let page = Page::collect([5, 4, 3, 2, 1].iter(), 2);
    /// assert_eq!((page.rows, page.total), (vec![5, 4], 5));
    /// ```
    pub fn collect<'a>(list: impl Iterator<Item = &'a T>, count: usize) -> Page<T>
    where
        T: 'a,
    {
        let mut page = Page::empty();
        for row in list {
            page.offer(row, count);
        }
        page
    }

    /// Offers the list's next row: copied while the page has fewer than `count` rows,
    /// counted either way. The rest is counted, not copied: a page costs `count` rows
    /// of memory however long the list is.
    pub fn offer(&mut self, row: &T, count: usize) {
        if self.rows.len() < count {
            self.rows.push(row.clone());
        }
        self.total += 1;
    }
}

impl<T> Page<T> {
    /// A page of a list not read yet: no rows, none counted.
    pub fn empty() -> Page<T> {
        Page {
            rows: Vec::new(),
            total: 0,
        }
    }

    /// Is this only part of the list?
    pub fn is_cut(&self) -> bool {
        self.rows.len() < self.total
    }

    /// The text of the `OK` line: `3 orders, newest first`, or when the list was cut
    /// `100 of 2345 orders, newest first`.
    pub fn summary(&self, what: &str) -> String {
        if self.is_cut() {
            format!("{} of {} {what}", self.rows.len(), self.total)
        } else {
            format!("{} {what}", self.rows.len())
        }
    }
}

/// How many rows to list: `n` if the request gave one, else the verb's default. The
/// parser has already checked that `n` is within 1 to [`MAX_LISTED`]; the `min` keeps
/// the bound even for a request built without the parser.
pub fn count_or(n: Option<u64>, default: u64) -> usize {
    let count = n.unwrap_or(default).min(MAX_LISTED);
    usize::try_from(count).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_shows_the_first_rows_and_counts_them_all() {
        let list: Vec<u32> = (1..=2500).rev().collect();
        let page = Page::collect(list.iter(), 100);
        assert_eq!(page.rows.len(), 100);
        assert_eq!(page.rows[0], 2500);
        assert_eq!(page.total, 2500);
        assert!(page.is_cut());
        assert_eq!(
            page.summary("orders, newest first"),
            "100 of 2500 orders, newest first"
        );

        let whole = Page::collect(list[..3].iter(), 100);
        assert_eq!(whole.rows, [2500, 2499, 2498]);
        assert!(!whole.is_cut());
        assert_eq!(whole.summary("orders"), "3 orders");

        let empty = Page::collect(std::iter::empty::<&u32>(), 100);
        assert_eq!(empty.summary("files"), "0 files");
    }

    #[test]
    fn the_count_is_the_default_or_n_and_never_above_the_maximum() {
        assert_eq!(count_or(None, DEFAULT_ORDERS_LISTED), 100);
        assert_eq!(count_or(Some(7), DEFAULT_ORDERS_LISTED), 7);
        assert_eq!(count_or(Some(u64::MAX), DEFAULT_ORDERS_LISTED), 1000);
    }
}
