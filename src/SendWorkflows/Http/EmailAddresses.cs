using System.Net.Mail;

namespace SendWorkflows.Http;

/// <summary>The one rule for an email address given to the API, for staff and school contacts alike.</summary>
public static class EmailAddresses
{
    public const string Expected = "must be an email address such as name@school.org.uk.";

    /// <summary>A bare address (no display name, nothing trimmed away) whose domain has a dot.</summary>
    public static bool IsValid(string email) =>
        MailAddress.TryCreate(email, out var address) && address.Address == email && address.Host.Contains('.', StringComparison.Ordinal);
}
