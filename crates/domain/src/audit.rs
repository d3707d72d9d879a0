//! What an audit event records: one enum of actions, each with the code kept
//! in the database (`user.disabled`) and the words a person reads ("disabled").

/// Every action muster writes to the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    UserCreated,
    UserUpdated,
    UserImported,
    UserEnabled,
    UserDisabled,
    UserActivated,
    UserLocked,
    UserDeleted,
    UserPasswordChanged,
    UserPasswordRehashed,
    UserPasswordReset,
    UserPasswordResetRequested,
    UserPasswordResetCompleted,
    UserRecordsReassigned,
    UsersMassEnabled,
    UsersMassDisabled,
    ApiKeyGenerated,
    ApiKeyRevoked,
    ExportRequested,
    ExportDownloaded,
    OrganizationCreated,
    RecordCreated,
    RecordUpdated,
    SettingsUpdated,
    MailRetried,
    UserSecondFactorEnrolled,
    UserSecondFactorReset,
    SessionEnded,
    SessionsEnded,
    UserSecondFactorRemoved,
    UsersMassPasswordReset,
    UsersMassPasswordResetFinished,
}

impl AuditAction {
    pub const ALL: [AuditAction; 32] = [
        AuditAction::UserCreated,
        AuditAction::UserUpdated,
        AuditAction::UserImported,
        AuditAction::UserEnabled,
        AuditAction::UserDisabled,
        AuditAction::UserActivated,
        AuditAction::UserLocked,
        AuditAction::UserDeleted,
        AuditAction::UserPasswordChanged,
        AuditAction::UserPasswordRehashed,
        AuditAction::UserPasswordReset,
        AuditAction::UserPasswordResetRequested,
        AuditAction::UserPasswordResetCompleted,
        AuditAction::UserRecordsReassigned,
        AuditAction::UsersMassEnabled,
        AuditAction::UsersMassDisabled,
        AuditAction::ApiKeyGenerated,
        AuditAction::ApiKeyRevoked,
        AuditAction::ExportRequested,
        AuditAction::ExportDownloaded,
        AuditAction::OrganizationCreated,
        AuditAction::RecordCreated,
        AuditAction::RecordUpdated,
        AuditAction::SettingsUpdated,
        AuditAction::MailRetried,
        AuditAction::UserSecondFactorEnrolled,
        AuditAction::UserSecondFactorReset,
        AuditAction::SessionEnded,
        AuditAction::SessionsEnded,
        AuditAction::UserSecondFactorRemoved,
        AuditAction::UsersMassPasswordReset,
        AuditAction::UsersMassPasswordResetFinished,
    ];

    /// The code stored in `audit_events.action` and used by the audit page's filter.
    pub fn code(self) -> &'static str {
        use AuditAction::*;
        match self {
            UserCreated => "user.created",
            UserUpdated => "user.updated",
            UserImported => "user.imported",
            UserEnabled => "user.enabled",
            UserDisabled => "user.disabled",
            UserActivated => "user.activated",
            UserLocked => "user.locked",
            UserDeleted => "user.deleted",
            UserPasswordChanged => "user.password_changed",
            UserPasswordRehashed => "user.password_rehashed",
            UserPasswordReset => "user.password_reset",
            UserPasswordResetRequested => "user.password_reset_requested",
            UserPasswordResetCompleted => "user.password_reset_completed",
            UserRecordsReassigned => "user.records_reassigned",
            UsersMassEnabled => "users.mass_enabled",
            UsersMassDisabled => "users.mass_disabled",
            ApiKeyGenerated => "api_key.generated",
            ApiKeyRevoked => "api_key.revoked",
            ExportRequested => "export.requested",
            ExportDownloaded => "export.downloaded",
            OrganizationCreated => "organization.created",
            RecordCreated => "record.created",
            RecordUpdated => "record.updated",
            SettingsUpdated => "settings.updated",
            MailRetried => "mail.retried",
            UserSecondFactorEnrolled => "user.second_factor_enrolled",
            UserSecondFactorReset => "user.second_factor_reset",
            SessionEnded => "session.ended",
            SessionsEnded => "sessions.ended",
            UserSecondFactorRemoved => "user.second_factor_removed",
            UsersMassPasswordReset => "users.mass_password_reset",
            UsersMassPasswordResetFinished => "users.mass_password_reset_finished",
        }
    }

    pub fn parse(code: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|a| a.code() == code)
    }

    /// The verb phrase of a sentence "‹actor› ‹wording› ‹target›": "Jane disabled john.smith".
    pub fn wording(self) -> &'static str {
        use AuditAction::*;
        match self {
            UserCreated => "created",
            UserUpdated => "edited",
            UserImported => "imported",
            UserEnabled => "enabled",
            UserDisabled => "disabled",
            UserActivated => "activated",
            UserLocked => "locked (too many failed sign-ins)",
            UserDeleted => "deleted",
            UserPasswordChanged => "changed the password of",
            UserPasswordRehashed => "upgraded the password hash of",
            UserPasswordReset => "reset the password of",
            UserPasswordResetRequested => "asked for a password reset link for",
            UserPasswordResetCompleted => "set a new password through a reset link for",
            UserRecordsReassigned => "reassigned the records of",
            UsersMassEnabled => "enabled users in bulk",
            UsersMassDisabled => "disabled users in bulk",
            ApiKeyGenerated => "generated an API key for",
            ApiKeyRevoked => "revoked the API key of",
            ExportRequested => "started an export of users",
            ExportDownloaded => "downloaded an export of users",
            OrganizationCreated => "created an organization",
            RecordCreated => "created a record for",
            RecordUpdated => "changed a record of",
            SettingsUpdated => "changed the settings",
            MailRetried => "retried a mail",
            UserSecondFactorEnrolled => "set up two-factor sign-in for",
            UserSecondFactorReset => "reset the two-factor sign-in of",
            SessionEnded => "ended a session of",
            SessionsEnded => "ended every session of",
            UserSecondFactorRemoved => "removed a passkey of",
            UsersMassPasswordReset => "started a password reset of users in bulk",
            UsersMassPasswordResetFinished => "finished a password reset of users in bulk",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_parse_back() {
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.code()), Some(a));
            assert!(!a.wording().is_empty());
        }
        let mut codes: Vec<_> = AuditAction::ALL.iter().map(|a| a.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), AuditAction::ALL.len());
        assert_eq!(AuditAction::parse("user.nonsense"), None);
    }
}
