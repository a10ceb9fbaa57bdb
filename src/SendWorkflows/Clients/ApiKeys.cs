using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace SendWorkflows.Clients;

/// <summary>
/// API keys: 256 random bits, shown once, stored as a SHA-256 hash. A slow password hash is not
/// needed because the keys are random and long; nobody can guess one to test against the hash.
/// </summary>
public static partial class ApiKeys
{
    public const string Prefix = "swk_";

    public static string Generate() =>
        Prefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static string Hash(string key) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
}

/// <summary>The scopes an API client may hold (DESIGN §4).</summary>
public static partial class Scopes
{
    public const string Admin = "admin";
    public const string Lms = "lms";
    public const string Sessions = "sessions";
    public const string SchoolPrefix = "school:";

    public static string School(string urn) => SchoolPrefix + urn;

    /// <summary>
    /// A school URN (six digits), an early-years URN (EY and six digits) or a college's UKPRN (eight digits).
    /// </summary>
    [GeneratedRegex(@"^(?:[0-9]{6}|EY[0-9]{6}|[0-9]{8})\z", RegexOptions.CultureInvariant)]
    public static partial Regex SchoolUrnPattern();

    /// <summary>What <see cref="SchoolUrnPattern"/> accepts, in words, for problems about a school identifier.</summary>
    public const string SchoolUrnRule = "must be a six-digit URN, EY and six digits for early years, or an eight-digit UKPRN for a college.";

    public static bool IsValid(string scope) =>
        scope is Admin or Lms or Sessions ||
        (scope.StartsWith(SchoolPrefix, StringComparison.Ordinal) && SchoolUrnPattern().IsMatch(scope[SchoolPrefix.Length..]));
}
