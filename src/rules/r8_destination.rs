//! R8 Destination: a refund goes back to the original payment method, else
//! to the fallback (the account balance).

use crate::rules::Code;

/// R8 for a completed U with a recorded refund > 0. `original` is the
/// method of the order's largest succeeded payment (None without one).
pub fn destination_finding(recorded: &str, original: Option<&str>, fallback: &str) -> Option<Code> {
    if Some(recorded) == original {
        None
    } else if recorded == fallback {
        Some(Code::FALLBACK_TO_BALANCE)
    } else {
        Some(Code::WRONG_DESTINATION)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r8_cases() {
        assert_eq!(
            destination_finding("credit_card", Some("credit_card"), "account_balance"),
            None
        );
        assert_eq!(
            destination_finding("account_balance", Some("credit_card"), "account_balance"),
            Some(Code::FALLBACK_TO_BALANCE)
        );
        assert_eq!(
            destination_finding("wallet", Some("credit_card"), "account_balance"),
            Some(Code::WRONG_DESTINATION)
        );
        assert_eq!(
            destination_finding("account_balance", None, "account_balance"),
            Some(Code::FALLBACK_TO_BALANCE)
        );
        assert_eq!(
            destination_finding("wallet", None, "account_balance"),
            Some(Code::WRONG_DESTINATION)
        );
        // Paid from the balance originally: back to the balance is fine.
        assert_eq!(
            destination_finding("account_balance", Some("account_balance"), "account_balance"),
            None
        );
    }
}
