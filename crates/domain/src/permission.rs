//! Roles, permissions, and the proof of a permission that service functions
//! take as an argument: an `Allowed<P>` can only be made by `Actor::allow`,
//! so a service cannot be called by someone who was not checked.

use std::marker::PhantomData;

use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Administrator,
    UserManager,
    User,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Administrator, Role::UserManager, Role::User];

    pub fn name(self) -> &'static str {
        match self {
            Role::Administrator => "Administrator",
            Role::UserManager => "User Manager",
            Role::User => "User",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Error> {
        let norm = raw.trim().to_lowercase().replace(['_', '-'], " ");
        match norm.as_str() {
            "administrator" | "admin" => Ok(Role::Administrator),
            "user manager" => Ok(Role::UserManager),
            "user" => Ok(Role::User),
            _ => Err(Error::invalid(
                "roles",
                format!("unknown role {raw:?}: expected Administrator, User Manager or User"),
            )),
        }
    }

    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Administrator => &[
                ViewUsers,
                CreateUsers,
                EditUsers,
                EnableDisable,
                Activate,
                ResetPasswords,
                SetPasswords,
                DeleteUsers,
                ExportUsers,
                ImportUsers,
                ManageApiKeys,
                ManageSettings,
                ViewAudit,
                ManageRecords,
                ManageOrganizations,
            ],
            Role::UserManager => &[
                ViewUsers,
                EditUsers,
                EnableDisable,
                Activate,
                ResetPasswords,
                SetPasswords,
            ],
            Role::User => &[],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    ViewUsers,
    CreateUsers,
    EditUsers,
    EnableDisable,
    Activate,
    ResetPasswords,
    /// Set another user's password (Change Password on the user page).
    SetPasswords,
    DeleteUsers,
    ExportUsers,
    ImportUsers,
    /// Generate or revoke the API keys of other users (one's own needs nothing).
    ManageApiKeys,
    ManageSettings,
    ViewAudit,
    /// Records of the business application, and reassigning them.
    ManageRecords,
    ManageOrganizations,
}

impl Permission {
    pub fn describe(self) -> &'static str {
        use Permission::*;
        match self {
            ViewUsers => "view users",
            CreateUsers => "create users",
            EditUsers => "edit users",
            EnableDisable => "enable or disable users",
            Activate => "activate users",
            ResetPasswords => "reset passwords",
            SetPasswords => "change other users' passwords",
            DeleteUsers => "delete users",
            ExportUsers => "export users",
            ImportUsers => "import users",
            ManageApiKeys => "manage other users' API keys",
            ManageSettings => "change settings",
            ViewAudit => "view the audit log",
            ManageRecords => "manage records",
            ManageOrganizations => "manage organizations",
        }
    }
}

/// A signed-in user (web session or API key), as the services see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: i64,
    pub username: String,
    pub roles: Vec<Role>,
    /// The organizations the actor belongs to: the scope of everything they do.
    pub organization_ids: Vec<i64>,
}

impl Actor {
    pub fn has(&self, p: Permission) -> bool {
        self.roles.iter().any(|r| r.permissions().contains(&p))
    }

    pub fn is_admin_of_any_kind(&self) -> bool {
        self.has(Permission::ViewUsers)
    }

    /// The one way to get a proof of permission `P`.
    pub fn allow<P: Perm>(&self) -> Result<Allowed<P>, Error> {
        if self.has(P::PERMISSION) {
            Ok(Allowed {
                actor: self.clone(),
                _p: PhantomData,
            })
        } else {
            Err(Error::Forbidden(format!("you may not {}", P::PERMISSION.describe())))
        }
    }

    /// Whether `self` acts on a user of `target_orgs`: they must share an organization.
    pub fn shares_organization(&self, target_orgs: &[i64]) -> bool {
        target_orgs.iter().any(|o| self.organization_ids.contains(o))
    }
}

/// A permission as a type, for `Allowed<P>`.
pub trait Perm {
    const PERMISSION: Permission;
}

/// Proof that `actor` holds permission `P`. Made only by [`Actor::allow`].
#[derive(Debug, Clone)]
pub struct Allowed<P: Perm> {
    actor: Actor,
    _p: PhantomData<P>,
}

impl<P: Perm> Allowed<P> {
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
}

/// The permission types.
pub mod perm {
    use super::{Perm, Permission};

    macro_rules! perms {
        ($($name:ident),* $(,)?) => {$(
            #[derive(Debug, Clone, Copy)]
            pub struct $name;
            impl Perm for $name {
                const PERMISSION: Permission = Permission::$name;
            }
        )*};
    }

    perms!(
        ViewUsers,
        CreateUsers,
        EditUsers,
        EnableDisable,
        Activate,
        ResetPasswords,
        SetPasswords,
        DeleteUsers,
        ExportUsers,
        ImportUsers,
        ManageApiKeys,
        ManageSettings,
        ViewAudit,
        ManageRecords,
        ManageOrganizations,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(roles: &[Role]) -> Actor {
        Actor {
            user_id: 1,
            username: "a".into(),
            roles: roles.to_vec(),
            organization_ids: vec![1],
        }
    }

    #[test]
    fn user_manager_cannot_delete_export_or_manage_keys() {
        let um = actor(&[Role::UserManager]);
        assert!(um.allow::<perm::EnableDisable>().is_ok());
        assert!(um.allow::<perm::ResetPasswords>().is_ok());
        assert!(um.allow::<perm::DeleteUsers>().is_err());
        assert!(um.allow::<perm::ExportUsers>().is_err());
        assert!(um.allow::<perm::ManageApiKeys>().is_err());
    }

    #[test]
    fn plain_user_has_nothing_admin() {
        let u = actor(&[Role::User]);
        assert!(!u.is_admin_of_any_kind());
        assert!(matches!(u.allow::<perm::ViewUsers>(), Err(Error::Forbidden(_))));
    }

    #[test]
    fn administrator_has_everything() {
        let a = actor(&[Role::User, Role::Administrator]);
        assert!(a.allow::<perm::DeleteUsers>().is_ok());
        assert!(a.allow::<perm::ManageSettings>().is_ok());
    }

    #[test]
    fn organization_scope() {
        let a = actor(&[Role::Administrator]);
        assert!(a.shares_organization(&[2, 1]));
        assert!(!a.shares_organization(&[2]));
        assert!(!a.shares_organization(&[]));
    }

    #[test]
    fn role_names_parse() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.name()).unwrap(), r);
        }
        assert_eq!(Role::parse("user_manager").unwrap(), Role::UserManager);
        assert!(Role::parse("root").is_err());
    }
}
