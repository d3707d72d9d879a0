//! The one rule for "may this actor do this to that user", and the proof a
//! service needs before it changes another user.
//!
//! A permission (`Allowed<P>`) says what an actor may do in general; acting
//! on one user also depends on who that user is:
//!
//! | target                       | actor's rule                                        |
//! |------------------------------|-----------------------------------------------------|
//! | outside the actor's orgs     | not found (the id reveals nothing)                  |
//! | an Administrator             | only an Administrator may act (anyone may view)     |
//! | the actor themself           | no disable, delete, reset, or password set as admin |
//!
//! [`Allowed::on`] applies it and is the only way to make an [`OnUser`], the
//! proof that the service functions which change a user take.

use std::marker::PhantomData;

use crate::error::Error;
use crate::permission::{Actor, Allowed, Perm, Permission, Role};

/// What an actor does to one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    View,
    Edit,
    Enable,
    Disable,
    Activate,
    SetPassword,
    ResetPassword,
    Delete,
    ManageApiKey,
    ReassignRecords,
    ResetSecondFactor,
}

impl Action {
    pub const ALL: [Action; 11] = [
        Action::View,
        Action::Edit,
        Action::Enable,
        Action::Disable,
        Action::Activate,
        Action::SetPassword,
        Action::ResetPassword,
        Action::Delete,
        Action::ManageApiKey,
        Action::ReassignRecords,
        Action::ResetSecondFactor,
    ];

    /// The permission an actor needs for this action on anyone.
    pub fn permission(self) -> Permission {
        match self {
            Action::View => Permission::ViewUsers,
            Action::Edit => Permission::EditUsers,
            Action::Enable | Action::Disable => Permission::EnableDisable,
            Action::Activate => Permission::Activate,
            Action::SetPassword => Permission::SetPasswords,
            Action::ResetPassword => Permission::ResetPasswords,
            Action::Delete => Permission::DeleteUsers,
            Action::ManageApiKey => Permission::ManageApiKeys,
            Action::ReassignRecords => Permission::ManageRecords,
            // a lost phone is a lost credential, like a forgotten password
            Action::ResetSecondFactor => Permission::ResetPasswords,
        }
    }

    /// The verb, for messages: "only an administrator may disable an administrator".
    pub fn verb(self) -> &'static str {
        match self {
            Action::View => "view",
            Action::Edit => "edit",
            Action::Enable => "enable",
            Action::Disable => "disable",
            Action::Activate => "activate",
            Action::SetPassword => "change the password of",
            Action::ResetPassword => "reset the password of",
            Action::Delete => "delete",
            Action::ManageApiKey => "manage the API keys of",
            Action::ReassignRecords => "reassign the records of",
            Action::ResetSecondFactor => "reset the two-factor sign-in of",
        }
    }

    /// Why an actor may not do this to themself, if they may not.
    fn refused_on_self(self) -> Option<&'static str> {
        match self {
            Action::Disable => Some("you cannot disable yourself"),
            Action::Delete => Some("you cannot delete yourself"),
            Action::ResetPassword => Some("you cannot reset your own password; change it on your profile"),
            Action::ResetSecondFactor => Some("you cannot reset your own two-factor sign-in"),
            Action::SetPassword => {
                Some("change your own password on your profile, where the current password is asked")
            }
            _ => None,
        }
    }
}

/// What the rule needs to know about the user acted on.
#[derive(Debug, Clone, Copy)]
pub struct TargetFacts<'a> {
    pub id: i64,
    pub roles: &'a [Role],
    /// The target's organizations; `None` for a user the caller selected
    /// within the actor's organizations already (a scoped query, a grid row).
    pub organization_ids: Option<&'a [i64]>,
}

/// Roles whose holders only an actor with the same role may act on (other than view).
const GUARDED: [Role; 1] = [Role::Administrator];

impl Actor {
    /// The rule. `Err(NotFound)` for a user outside the actor's scope, `Err(Forbidden)` for a refusal.
    pub fn may(&self, action: Action, target: &TargetFacts<'_>) -> Result<(), Error> {
        if !self.has(action.permission()) {
            return Err(Error::Forbidden(format!(
                "you may not {}",
                action.permission().describe()
            )));
        }
        let is_self = target.id == self.user_id;
        if !is_self
            && let Some(orgs) = target.organization_ids
            && !self.shares_organization(orgs)
        {
            return Err(Error::NotFound("user".to_owned()));
        }
        if is_self {
            return match action.refused_on_self() {
                Some(why) => Err(Error::Forbidden(why.to_owned())),
                None => Ok(()),
            };
        }
        if action != Action::View
            && let Some(role) = self.guarded_roles().into_iter().find(|r| target.roles.contains(r))
        {
            let name = role.name().to_lowercase();
            return Err(Error::Forbidden(format!(
                "only an {name} may {} an {name}",
                action.verb()
            )));
        }
        Ok(())
    }

    /// The roles whose holders this actor may not act on: the set-based form
    /// of [`Actor::may`] for mass actions, which skip and count such users.
    pub fn guarded_roles(&self) -> Vec<Role> {
        GUARDED.into_iter().filter(|r| !self.roles.contains(r)).collect()
    }
}

impl<P: Perm> Allowed<P> {
    /// Apply the rule for `action` (which must need `P`) on `target`.
    pub fn on(&self, action: Action, target: &TargetFacts<'_>) -> Result<OnUser<P>, Error> {
        if action.permission() != P::PERMISSION {
            return Err(Error::Forbidden(format!(
                "{} is not done with the permission to {}",
                action.verb(),
                P::PERMISSION.describe()
            )));
        }
        self.actor().may(action, target)?;
        Ok(OnUser {
            actor: self.actor().clone(),
            target_id: target.id,
            action,
            _p: PhantomData,
        })
    }
}

/// Proof that `actor` may do `action` (which needs `P`) to user `target_id`.
/// Made only by [`Allowed::on`].
#[derive(Debug, Clone)]
pub struct OnUser<P: Perm> {
    actor: Actor,
    target_id: i64,
    action: Action,
    _p: PhantomData<P>,
}

impl<P: Perm> OnUser<P> {
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    pub fn target_id(&self) -> i64 {
        self.target_id
    }

    pub fn action(&self) -> Action {
        self.action
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permission::perm;

    fn actor(id: i64, roles: &[Role]) -> Actor {
        Actor {
            user_id: id,
            username: format!("u{id}"),
            roles: roles.to_vec(),
            organization_ids: vec![1],
        }
    }

    fn facts(id: i64, roles: &[Role]) -> TargetFacts<'_> {
        TargetFacts {
            id,
            roles,
            organization_ids: Some(&[1]),
        }
    }

    #[test]
    fn a_user_manager_never_acts_on_an_administrator() {
        let um = actor(1, &[Role::UserManager]);
        for action in Action::ALL {
            let r = um.may(action, &facts(2, &[Role::Administrator]));
            if action == Action::View {
                assert!(r.is_ok(), "{action:?}");
            } else {
                assert!(matches!(r, Err(Error::Forbidden(_))), "{action:?}: {r:?}");
            }
            // nor on someone who is an administrator among other roles
            let r = um.may(action, &facts(2, &[Role::User, Role::Administrator]));
            assert_eq!(action == Action::View, r.is_ok(), "{action:?}");
        }
    }

    #[test]
    fn a_user_manager_acts_on_users_and_user_managers_within_their_permissions() {
        let um = actor(1, &[Role::UserManager]);
        for target in [&[Role::User][..], &[Role::UserManager][..]] {
            for action in Action::ALL {
                let r = um.may(action, &facts(2, target));
                assert_eq!(
                    r.is_ok(),
                    um.has(action.permission()),
                    "{action:?} on {target:?}: {r:?}"
                );
            }
        }
    }

    #[test]
    fn an_administrator_acts_on_anyone_in_scope() {
        let admin = actor(1, &[Role::Administrator]);
        for target in [&[Role::User][..], &[Role::UserManager][..], &[Role::Administrator][..]] {
            for action in Action::ALL {
                assert!(admin.may(action, &facts(2, target)).is_ok(), "{action:?} on {target:?}");
            }
        }
    }

    #[test]
    fn nobody_destroys_themself() {
        let admin = actor(1, &[Role::Administrator]);
        for action in [
            Action::Disable,
            Action::Delete,
            Action::ResetPassword,
            Action::SetPassword,
            Action::ResetSecondFactor,
        ] {
            let r = admin.may(action, &facts(1, &[Role::Administrator]));
            assert!(matches!(r, Err(Error::Forbidden(_))), "{action:?}");
        }
        for action in [
            Action::View,
            Action::Edit,
            Action::Enable,
            Action::Activate,
            Action::ManageApiKey,
        ] {
            assert!(
                admin.may(action, &facts(1, &[Role::Administrator])).is_ok(),
                "{action:?}"
            );
        }
    }

    #[test]
    fn outside_the_organizations_is_not_found() {
        let admin = actor(1, &[Role::Administrator]);
        let elsewhere = TargetFacts {
            id: 2,
            roles: &[Role::User],
            organization_ids: Some(&[7]),
        };
        for action in Action::ALL {
            assert!(matches!(admin.may(action, &elsewhere), Err(Error::NotFound(_))));
        }
    }

    #[test]
    fn without_the_permission_nothing_is_allowed() {
        let user = actor(1, &[Role::User]);
        for action in Action::ALL {
            assert!(matches!(
                user.may(action, &facts(2, &[Role::User])),
                Err(Error::Forbidden(_))
            ));
        }
    }

    #[test]
    fn the_proof_names_its_target_and_needs_the_matching_action() {
        let admin = actor(1, &[Role::Administrator]);
        let grant = admin.allow::<perm::EnableDisable>().unwrap();
        let proof = grant.on(Action::Disable, &facts(5, &[Role::User])).unwrap();
        assert_eq!(proof.target_id(), 5);
        assert_eq!(proof.action(), Action::Disable);
        assert!(grant.on(Action::Delete, &facts(5, &[Role::User])).is_err());
    }

    #[test]
    fn guarded_roles_are_the_set_form_of_the_rule() {
        assert_eq!(
            actor(1, &[Role::UserManager]).guarded_roles(),
            vec![Role::Administrator]
        );
        assert!(actor(1, &[Role::Administrator]).guarded_roles().is_empty());
    }
}
