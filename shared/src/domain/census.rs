//! The states the product counts hostnames by (the platform's "hostnames by
//! state" figure), and the state a hostname's records put it in.
//!
//! The counts are kept as the states change, never by reading every
//! hostname: each claim records the state it was last counted in
//! (`Owner::counted`), and the write that changes it moves the count from
//! the old state to the new in the same transaction
//! (`Store::count_state`); the write that deletes the claim takes it off.
//! A hostname is counted again wherever its changes are told
//! (`flows::hostname::announce`): a call that moves it and dies before
//! that leaves it counted where it was until the next look at it.

use super::lifecycle::Lifecycle;
use super::HostnameRecords;

/// A state a hostname is counted in: the API's `status`, and `releasing`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CountedState {
    Claimed,
    PendingValidation,
    Issuing,
    Configuring,
    Failed,
    Active,
    Renewing,
    RenewalAwaitingDns,
    AddingNames,
    RenewalFailing,
    Releasing,
}

impl CountedState {
    pub const ALL: [CountedState; 11] = [
        CountedState::Claimed,
        CountedState::PendingValidation,
        CountedState::Issuing,
        CountedState::Configuring,
        CountedState::Failed,
        CountedState::Active,
        CountedState::Renewing,
        CountedState::RenewalAwaitingDns,
        CountedState::AddingNames,
        CountedState::RenewalFailing,
        CountedState::Releasing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CountedState::Claimed => "claimed",
            CountedState::PendingValidation => "pending_validation",
            CountedState::Issuing => "issuing",
            CountedState::Configuring => "configuring",
            CountedState::Failed => "failed",
            CountedState::Active => "active",
            CountedState::Renewing => "renewing",
            CountedState::RenewalAwaitingDns => "renewal_awaiting_dns",
            CountedState::AddingNames => "adding_names",
            CountedState::RenewalFailing => "renewal_failing",
            CountedState::Releasing => "releasing",
        }
    }

    pub fn parse(s: &str) -> Option<CountedState> {
        CountedState::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether a hostname in this state is served a certificate.
    pub fn is_served(self) -> bool {
        matches!(
            self,
            CountedState::Active
                | CountedState::Renewing
                | CountedState::RenewalAwaitingDns
                | CountedState::AddingNames
                | CountedState::RenewalFailing
        )
    }

    /// The state `records` put the hostname in (None: nobody holds it).
    pub fn of(records: &HostnameRecords) -> Option<CountedState> {
        match records.lifecycle() {
            Lifecycle::Unclaimed => None,
            Lifecycle::Releasing { .. } => Some(CountedState::Releasing),
            state => CountedState::parse(state.status()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_the_api_reports_is_a_counted_state() {
        for c in CountedState::ALL {
            assert_eq!(CountedState::parse(c.as_str()), Some(c));
        }
        assert_eq!(CountedState::of(&HostnameRecords::default()), None);
    }
}
