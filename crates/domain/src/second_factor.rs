//! When a sign-in needs a second factor. The setting is per role (off,
//! optional, required); a user with several roles gets the strictest.
//!
//! | rule     | has a factor | after the right password          |
//! |----------|--------------|-----------------------------------|
//! | any      | yes          | ask for a code                    |
//! | required | no           | enrol first (no other page)       |
//! | optional | no           | signed in                         |
//! | off      | no           | signed in (enrolment not offered) |
//!
//! A factor once set up is always asked, whatever the rule says now: turning
//! a role's rule down never silently drops a user's protection.

use crate::permission::Role;

/// The per-role setting, stored as 0, 1, 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FactorRule {
    Off = 0,
    Optional = 1,
    Required = 2,
}

impl FactorRule {
    /// The setting's value; anything out of range is the default, optional.
    pub fn from_setting(v: i64) -> FactorRule {
        match v {
            0 => FactorRule::Off,
            2 => FactorRule::Required,
            _ => FactorRule::Optional,
        }
    }

    /// The strictest rule among the user's roles, each looked up with `rule_of`.
    pub fn for_roles(roles: &[Role], rule_of: impl Fn(Role) -> FactorRule) -> FactorRule {
        roles.iter().map(|r| rule_of(*r)).max().unwrap_or(FactorRule::Optional)
    }

    /// Whether the profile offers to set up a factor.
    pub fn offers_enrolment(self) -> bool {
        self != FactorRule::Off
    }
}

/// What comes after the right password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterPassword {
    SignedIn,
    AskCode,
    Enrol,
}

pub fn after_password(rule: FactorRule, has_factor: bool) -> AfterPassword {
    match (has_factor, rule) {
        (true, _) => AfterPassword::AskCode,
        (false, FactorRule::Required) => AfterPassword::Enrol,
        (false, _) => AfterPassword::SignedIn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strictest_role_decides() {
        let rule_of = |r: Role| match r {
            Role::Administrator => FactorRule::Required,
            Role::UserManager => FactorRule::Optional,
            Role::User => FactorRule::Off,
        };
        assert_eq!(FactorRule::for_roles(&[Role::User], rule_of), FactorRule::Off);
        assert_eq!(
            FactorRule::for_roles(&[Role::User, Role::Administrator], rule_of),
            FactorRule::Required
        );
        assert_eq!(FactorRule::for_roles(&[], rule_of), FactorRule::Optional);
    }

    #[test]
    fn settings_values_map_to_rules() {
        assert_eq!(FactorRule::from_setting(0), FactorRule::Off);
        assert_eq!(FactorRule::from_setting(1), FactorRule::Optional);
        assert_eq!(FactorRule::from_setting(2), FactorRule::Required);
        assert_eq!(FactorRule::from_setting(7), FactorRule::Optional);
    }

    #[test]
    fn a_factor_is_always_asked_and_required_means_enrol() {
        for rule in [FactorRule::Off, FactorRule::Optional, FactorRule::Required] {
            assert_eq!(after_password(rule, true), AfterPassword::AskCode);
        }
        assert_eq!(after_password(FactorRule::Required, false), AfterPassword::Enrol);
        assert_eq!(after_password(FactorRule::Optional, false), AfterPassword::SignedIn);
        assert_eq!(after_password(FactorRule::Off, false), AfterPassword::SignedIn);
        assert!(!FactorRule::Off.offers_enrolment());
        assert!(FactorRule::Optional.offers_enrolment());
    }
}
