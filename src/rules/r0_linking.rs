//! R0 Linking: an unsubscription must point at an accepted order of its
//! own account, and an order is unsubscribed (completed) once.

/// How an unsubscription links to its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// No accepted order with U.order_id → `ORDER_NOT_FOUND`.
    OrderNotFound,
    /// U.account_id ≠ O.account_id → `ACCOUNT_MISMATCH`.
    AccountMismatch,
    /// A second or later completed U of the same order, in evaluation
    /// order → `DUPLICATE_UNSUBSCRIPTION`; expected type `duplicate`.
    Duplicate,
    /// Linked: the other rules apply.
    Linked,
}

/// R0 for one unsubscription. `order_account` is the account of the
/// accepted order (None: no such order); `completed` whether U.status is
/// `completed`; `order_already_completed` whether an earlier U of this
/// order (in evaluation order, blocked ones included) was completed.
pub fn link(u_account: &str, order_account: Option<&str>, completed: bool, order_already_completed: bool) -> Link {
    match order_account {
        None => Link::OrderNotFound,
        Some(a) if a != u_account => Link::AccountMismatch,
        Some(_) if completed && order_already_completed => Link::Duplicate,
        Some(_) => Link::Linked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r0_cases() {
        assert_eq!(link("A", None, true, false), Link::OrderNotFound);
        assert_eq!(link("A", Some("B"), true, false), Link::AccountMismatch);
        assert_eq!(link("A", Some("A"), true, true), Link::Duplicate);
        assert_eq!(
            link("A", Some("A"), false, true),
            Link::Linked,
            "a pending U is never a duplicate"
        );
        assert_eq!(link("A", Some("A"), true, false), Link::Linked);
        // Ids compare exactly.
        assert_eq!(link("a", Some("A"), true, false), Link::AccountMismatch);
    }
}
