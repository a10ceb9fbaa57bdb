using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using SendWorkflows.Http;

namespace SendWorkflows.Xapi;

/// <summary>What an Activity, Agent or other thing a statement is about turned out to be.</summary>
public enum StatementObjectKind
{
    Activity,
    Agent,
    Group,
    StatementRef,
    SubStatement,
}

/// <summary>An account on some system (xAPI 1.0.3 §2.4.2.4): the system's home page and the person's name there.</summary>
public sealed record XapiAccount(string HomePage, string Name);

/// <summary>A statement that passed xAPI's rules, with the parts the service acts on.</summary>
/// <param name="Field">The prefix of the statement's fields in problems: <c>[3].</c> in a batch, empty for a single statement.</param>
/// <param name="Json">The statement as it came: the text is kept, not the parsed document, which is released once the batch is read.</param>
public sealed record XapiStatement(
    string Field,
    Guid Id,
    bool IdAssigned,
    string Verb,
    StatementObjectKind ObjectKind,
    string? ActivityId,
    XapiAccount? Account,
    Guid? Registration,
    DateTimeOffset? Timestamp,
    string Json,
    string ContentHash);

/// <summary>
/// Checks statements against xAPI 1.0.3 (Part Two, the data model) the way a learning record store
/// must: nulls, wrong types, malformed ids, IRIs, timestamps, durations and language tags, keys the
/// specification does not define (or defines in another case), and agents with other than one
/// identifier are refused, naming the field. Extensions may hold anything.
/// </summary>
public sealed partial class StatementReader(TimeProvider clock)
{
    public const string VoidedVerb = "http://adlnet.gov/expapi/verbs/voided";

    private static readonly string[] StatementKeys =
        ["id", "actor", "verb", "object", "result", "context", "timestamp", "stored", "authority", "version", "attachments"];

    private static readonly string[] SubStatementKeys = ["objectType", "actor", "verb", "object", "result", "context", "timestamp", "attachments"];
    private static readonly string[] IdentifierKeys = ["mbox", "mbox_sha1sum", "openid", "account"];
    private static readonly string[] InteractionTypes = ["true-false", "choice", "fill-in", "long-fill-in", "matching", "performance", "sequencing", "likert", "numeric", "other"];
    private static readonly string[] ComponentLists = ["choices", "scale", "source", "target", "steps"];

    /// <summary>Reads one statement; on failure its problems are added to <paramref name="errors"/> and null is returned.</summary>
    /// <param name="field">The prefix of its fields in problems: <c>[3].</c> in a batch, empty for a single statement.</param>
    public XapiStatement? Read(JsonElement statement, string field, FieldErrors errors)
    {
        var check = new Check(errors);
        var root = field.Length == 0 ? "body" : field.TrimEnd('.');
        if (!check.Object(statement, root, StatementKeys))
        {
            return null;
        }

        Guid? id = null;
        if (statement.TryGetProperty("id", out var idValue) && check.String(idValue, field + "id") is { } idText)
        {
            id = check.Uuid(idText, field + "id");
        }

        var (account, _) = check.Actor(statement, field, required: true);
        var verb = check.Verb(statement, field);
        var (kind, activityId) = check.StatementObject(statement, field, inSubStatement: false, verb);
        check.Result(statement, field);
        var registration = check.Context(statement, field, kind);

        DateTimeOffset? timestamp = null;
        if (statement.TryGetProperty("timestamp", out var ts) && check.Timestamp(ts, field + "timestamp") is { } at)
        {
            timestamp = at;
            // Clocks of reporting systems drift; beyond that, a statement about the future is not a record of anything.
            if (at > clock.GetUtcNow() + Progress.ProgressEndpoints.ClockSkewAllowance)
            {
                check.Add(field + "timestamp", "must not be in the future.");
            }
        }

        if (statement.TryGetProperty("stored", out var stored))
        {
            check.Timestamp(stored, field + "stored");
        }

        if (statement.TryGetProperty("authority", out var authority))
        {
            check.AgentOrGroup(authority, field + "authority");
        }

        if (statement.TryGetProperty("version", out var version) && check.String(version, field + "version") is { } v && !StatementVersion().IsMatch(v))
        {
            check.Add(field + "version", "must be 1.0.x when given (statements of xAPI 1.0 carry 1.0.0).");
        }

        check.Attachments(statement, field);

        if (check.Count > 0 || verb is null || kind is null)
        {
            return null;
        }

        var assigned = id is null;
        return new XapiStatement(field, id ?? Guid.NewGuid(), assigned, verb, kind.Value, activityId, account, registration, timestamp,
            statement.GetRawText(), StatementComparison.ContentHash(statement));
    }

    /// <summary>One statement's checks, writing to the shared problem list.</summary>
    private sealed class Check(FieldErrors errors)
    {
        public int Count { get; private set; }

        public void Add(string field, string message)
        {
            errors.Add(field, message);
            Count++;
        }

        private bool Kind(JsonElement value, string field, JsonValueKind kind, string what)
        {
            if (value.ValueKind == kind)
            {
                return true;
            }

            Add(field, value.ValueKind == JsonValueKind.Null ? "must not be null." : $"must be {what}.");
            return false;
        }

        /// <summary>An object whose keys are all among <paramref name="allowed"/> (compared with case, as xAPI requires).</summary>
        public bool Object(JsonElement value, string field, IReadOnlyCollection<string> allowed)
        {
            if (!Kind(value, field, JsonValueKind.Object, "an object"))
            {
                return false;
            }

            foreach (var property in value.EnumerateObject())
            {
                if (!allowed.Contains(property.Name, StringComparer.Ordinal))
                {
                    Add(Join(field, property.Name), "is not a property xAPI 1.0.3 defines here.");
                }
            }

            return true;
        }

        public string? String(JsonElement value, string field) => Kind(value, field, JsonValueKind.String, "a string") ? value.GetString() : null;

        public string? Iri(JsonElement value, string field)
        {
            var text = String(value, field);
            if (text is not null && !IsIri(text))
            {
                Add(field, "must be an absolute IRI, with a scheme (such as https:).");
                return null;
            }

            return text;
        }

        public Guid? Uuid(string text, string field)
        {
            if (Guid.TryParseExact(text, "D", out var id))
            {
                return id;
            }

            Add(field, "must be a UUID in its standard form (8-4-4-4-12 hexadecimal digits).");
            return null;
        }

        public DateTimeOffset? Timestamp(JsonElement value, string field)
        {
            if (String(value, field) is not { } text)
            {
                return null;
            }

            if (ParseTimestamp(text) is { } at)
            {
                return at;
            }

            Add(field, "must be an ISO 8601 date and time, such as 2026-11-23T09:30:00.000Z.");
            return null;
        }

        public void Boolean(JsonElement value, string field)
        {
            if (value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            {
                Add(field, value.ValueKind == JsonValueKind.Null ? "must not be null." : "must be true or false.");
            }
        }

        public double? Number(JsonElement value, string field)
        {
            if (!Kind(value, field, JsonValueKind.Number, "a number"))
            {
                return null;
            }

            if (value.TryGetDouble(out var number) && double.IsFinite(number))
            {
                return number;
            }

            Add(field, "is too large a number to store.");
            return null;
        }

        public void LanguageMap(JsonElement value, string field)
        {
            if (!Kind(value, field, JsonValueKind.Object, "a language map (an object from RFC 5646 language tags to strings)"))
            {
                return;
            }

            foreach (var entry in value.EnumerateObject())
            {
                if (!LanguageTag().IsMatch(entry.Name))
                {
                    Add(Join(field, entry.Name), "is not an RFC 5646 language tag.");
                }

                String(entry.Value, Join(field, entry.Name));
            }
        }

        /// <summary>Keys must be IRIs; the values are the extension owner's business, nulls included.</summary>
        public void Extensions(JsonElement value, string field)
        {
            if (!Kind(value, field, JsonValueKind.Object, "an object whose keys are IRIs"))
            {
                return;
            }

            foreach (var entry in value.EnumerateObject().Where(e => !IsIri(e.Name)))
            {
                Add(Join(field, entry.Name), "is not an IRI; extension keys must be IRIs.");
            }
        }

        public (XapiAccount? Account, bool IsAgent) Actor(JsonElement statement, string prefix, bool required)
        {
            if (!statement.TryGetProperty("actor", out var actor))
            {
                if (required)
                {
                    Add(prefix + "actor", "is required.");
                }

                return (null, false);
            }

            return AgentOrGroup(actor, prefix + "actor");
        }

        /// <summary>An Agent, or a Group (anonymous with members, or identified).</summary>
        public (XapiAccount? Account, bool IsAgent) AgentOrGroup(JsonElement value, string field, bool agentOnly = false)
        {
            if (!Kind(value, field, JsonValueKind.Object, "an object (an Agent or a Group)"))
            {
                return (null, false);
            }

            var objectType = value.TryGetProperty("objectType", out var t) ? String(t, field + ".objectType") : "Agent";
            if (objectType is null)
            {
                return (null, false);
            }

            if (objectType == "Group" && !agentOnly)
            {
                Object(value, field, ["objectType", "name", "member", .. IdentifierKeys]);
                var identifiers = Identifiers(value, field);
                if (value.TryGetProperty("name", out var groupName))
                {
                    String(groupName, field + ".name");
                }

                if (value.TryGetProperty("member", out var members))
                {
                    if (Kind(members, field + ".member", JsonValueKind.Array, "an array of Agents"))
                    {
                        var i = 0;
                        foreach (var member in members.EnumerateArray())
                        {
                            AgentOrGroup(member, $"{field}.member[{i++}]", agentOnly: true);
                        }
                    }
                }
                else if (identifiers == 0)
                {
                    Add(field + ".member", "is required for a Group without an identifier (an anonymous group).");
                }

                if (identifiers > 1)
                {
                    Add(field, "must have at most one identifier: mbox, mbox_sha1sum, openid or account.");
                }

                return (null, false);
            }

            if (objectType != "Agent")
            {
                Add(field + ".objectType", agentOnly ? "must be Agent (a group's members are Agents)." : "must be Agent or Group.");
                return (null, false);
            }

            Object(value, field, ["objectType", "name", .. IdentifierKeys]);
            if (value.TryGetProperty("name", out var name))
            {
                String(name, field + ".name");
            }

            if (Identifiers(value, field) != 1)
            {
                Add(field, "must have exactly one identifier: mbox, mbox_sha1sum, openid or account.");
                return (null, true);
            }

            return (Account(value, field), true);
        }

        /// <summary>Checks whichever inverse functional identifiers are present and counts them.</summary>
        private int Identifiers(JsonElement value, string field)
        {
            var count = 0;
            if (value.TryGetProperty("mbox", out var mbox))
            {
                count++;
                if (String(mbox, field + ".mbox") is { } text && !Mailbox().IsMatch(text))
                {
                    Add(field + ".mbox", "must be a mailto IRI, such as mailto:name@example.org.");
                }
            }

            if (value.TryGetProperty("mbox_sha1sum", out var sha1))
            {
                count++;
                if (String(sha1, field + ".mbox_sha1sum") is { } text && !Sha1().IsMatch(text))
                {
                    Add(field + ".mbox_sha1sum", "must be the hex-encoded SHA-1 of a mailto IRI (40 hexadecimal digits).");
                }
            }

            if (value.TryGetProperty("openid", out var openid))
            {
                count++;
                Iri(openid, field + ".openid");
            }

            if (value.TryGetProperty("account", out var account))
            {
                count++;
                var path = field + ".account";
                if (Object(account, path, ["homePage", "name"]))
                {
                    if (account.TryGetProperty("homePage", out var homePage))
                    {
                        Iri(homePage, path + ".homePage");
                    }
                    else
                    {
                        Add(path + ".homePage", "is required.");
                    }

                    if (account.TryGetProperty("name", out var accountName))
                    {
                        String(accountName, path + ".name");
                    }
                    else
                    {
                        Add(path + ".name", "is required.");
                    }
                }
            }

            return count;
        }

        private static XapiAccount? Account(JsonElement agent, string field) =>
            agent.TryGetProperty("account", out var account) && account.ValueKind == JsonValueKind.Object &&
            account.TryGetProperty("homePage", out var homePage) && homePage.ValueKind == JsonValueKind.String &&
            account.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String
                ? new XapiAccount(homePage.GetString()!, name.GetString()!)
                : null;

        public string? Verb(JsonElement statement, string prefix)
        {
            var field = prefix + "verb";
            if (!statement.TryGetProperty("verb", out var verb))
            {
                Add(field, "is required.");
                return null;
            }

            if (!Object(verb, field, ["id", "display"]))
            {
                return null;
            }

            if (verb.TryGetProperty("display", out var display))
            {
                LanguageMap(display, field + ".display");
            }

            if (verb.TryGetProperty("id", out var id))
            {
                return Iri(id, field + ".id");
            }

            Add(field + ".id", "is required.");
            return null;
        }

        public (StatementObjectKind? Kind, string? ActivityId) StatementObject(JsonElement statement, string prefix, bool inSubStatement, string? verb)
        {
            var field = prefix + "object";
            if (!statement.TryGetProperty("object", out var value))
            {
                Add(field, "is required.");
                return (null, null);
            }

            if (!Kind(value, field, JsonValueKind.Object, "an object"))
            {
                return (null, null);
            }

            var objectType = value.TryGetProperty("objectType", out var t) ? String(t, field + ".objectType") : "Activity";
            if (verb == VoidedVerb && objectType != "StatementRef")
            {
                Add(field + ".objectType", "must be StatementRef: a voiding statement names the statement it voids.");
            }

            switch (objectType)
            {
                case "Activity":
                    return (StatementObjectKind.Activity, Activity(value, field));
                case "Agent":
                    AgentOrGroup(value, field);
                    return (StatementObjectKind.Agent, null);
                case "Group":
                    AgentOrGroup(value, field);
                    return (StatementObjectKind.Group, null);
                case "StatementRef":
                    StatementRef(value, field);
                    return (StatementObjectKind.StatementRef, null);
                case "SubStatement" when !inSubStatement:
                    SubStatement(value, field);
                    return (StatementObjectKind.SubStatement, null);
                case "SubStatement":
                    Add(field + ".objectType", "must not be SubStatement inside a SubStatement.");
                    return (null, null);
                case null:
                    return (null, null);
                default:
                    Add(field + ".objectType", "must be Activity, Agent, Group, StatementRef or SubStatement.");
                    return (null, null);
            }
        }

        public void StatementRef(JsonElement value, string field)
        {
            if (!Object(value, field, ["objectType", "id"]))
            {
                return;
            }

            if (value.TryGetProperty("id", out var id))
            {
                if (String(id, field + ".id") is { } text)
                {
                    Uuid(text, field + ".id");
                }
            }
            else
            {
                Add(field + ".id", "is required (the id of the statement referred to).");
            }
        }

        private void SubStatement(JsonElement value, string field)
        {
            var prefix = field + ".";
            Object(value, field, SubStatementKeys);
            Actor(value, prefix, required: true);
            var verb = Verb(value, prefix);
            var (kind, _) = StatementObject(value, prefix, inSubStatement: true, verb);
            Result(value, prefix);
            Context(value, prefix, kind);
            // A SubStatement may describe the future (a plan), so its timestamp is only checked for form.
            if (value.TryGetProperty("timestamp", out var timestamp))
            {
                Timestamp(timestamp, prefix + "timestamp");
            }

            Attachments(value, prefix);
        }

        public string? Activity(JsonElement value, string field)
        {
            if (!Object(value, field, ["objectType", "id", "definition"]))
            {
                return null;
            }

            if (value.TryGetProperty("definition", out var definition))
            {
                ActivityDefinition(definition, field + ".definition");
            }

            if (value.TryGetProperty("id", out var id))
            {
                return Iri(id, field + ".id");
            }

            Add(field + ".id", "is required.");
            return null;
        }

        private void ActivityDefinition(JsonElement value, string field)
        {
            if (!Object(value, field, ["name", "description", "type", "moreInfo", "extensions", "interactionType", "correctResponsesPattern", .. ComponentLists]))
            {
                return;
            }

            foreach (var languageMap in new[] { "name", "description" })
            {
                if (value.TryGetProperty(languageMap, out var map))
                {
                    LanguageMap(map, $"{field}.{languageMap}");
                }
            }

            foreach (var iri in new[] { "type", "moreInfo" })
            {
                if (value.TryGetProperty(iri, out var v))
                {
                    Iri(v, $"{field}.{iri}");
                }
            }

            if (value.TryGetProperty("extensions", out var extensions))
            {
                Extensions(extensions, field + ".extensions");
            }

            string? interactionType = null;
            if (value.TryGetProperty("interactionType", out var type) && String(type, field + ".interactionType") is { } typeName)
            {
                if (InteractionTypes.Contains(typeName, StringComparer.Ordinal))
                {
                    interactionType = typeName;
                }
                else
                {
                    Add(field + ".interactionType", $"must be one of {string.Join(", ", InteractionTypes)}.");
                }
            }

            var hasInteraction = value.TryGetProperty("correctResponsesPattern", out var pattern);
            if (hasInteraction && Kind(pattern, field + ".correctResponsesPattern", JsonValueKind.Array, "an array of strings"))
            {
                var i = 0;
                foreach (var response in pattern.EnumerateArray())
                {
                    String(response, $"{field}.correctResponsesPattern[{i++}]");
                }
            }

            foreach (var list in ComponentLists)
            {
                if (!value.TryGetProperty(list, out var components))
                {
                    continue;
                }

                hasInteraction = true;
                var path = $"{field}.{list}";
                if (interactionType is not null && !AllowedLists(interactionType).Contains(list, StringComparer.Ordinal))
                {
                    Add(path, $"is not used by interactionType {interactionType}.");
                }

                if (!Kind(components, path, JsonValueKind.Array, "an array of interaction components"))
                {
                    continue;
                }

                var ids = new HashSet<string>(StringComparer.Ordinal);
                var i = 0;
                foreach (var component in components.EnumerateArray())
                {
                    var item = $"{path}[{i++}]";
                    if (!Object(component, item, ["id", "description"]))
                    {
                        continue;
                    }

                    if (!component.TryGetProperty("id", out var componentId))
                    {
                        Add(item + ".id", "is required.");
                    }
                    else if (String(componentId, item + ".id") is { } text && !ids.Add(text))
                    {
                        Add(item + ".id", $"'{text}' is used more than once in {list}.");
                    }

                    if (component.TryGetProperty("description", out var description))
                    {
                        LanguageMap(description, item + ".description");
                    }
                }
            }

            if (hasInteraction && !value.TryGetProperty("interactionType", out _))
            {
                Add(field + ".interactionType", "is required when an activity definition describes an interaction.");
            }
        }

        private static string[] AllowedLists(string interactionType) => interactionType switch
        {
            "choice" or "sequencing" => ["choices"],
            "likert" => ["scale"],
            "matching" => ["source", "target"],
            "performance" => ["steps"],
            _ => [],
        };

        public void Result(JsonElement statement, string prefix)
        {
            var field = prefix + "result";
            if (!statement.TryGetProperty("result", out var result) ||
                !Object(result, field, ["score", "success", "completion", "response", "duration", "extensions"]))
            {
                return;
            }

            foreach (var flag in new[] { "success", "completion" })
            {
                if (result.TryGetProperty(flag, out var value))
                {
                    Boolean(value, $"{field}.{flag}");
                }
            }

            if (result.TryGetProperty("response", out var response))
            {
                String(response, field + ".response");
            }

            if (result.TryGetProperty("duration", out var duration) && String(duration, field + ".duration") is { } text && !Duration().IsMatch(text))
            {
                Add(field + ".duration", "must be an ISO 8601 duration, such as PT1H30M or PT754.5S.");
            }

            if (result.TryGetProperty("extensions", out var extensions))
            {
                Extensions(extensions, field + ".extensions");
            }

            if (result.TryGetProperty("score", out var score) && Object(score, field + ".score", ["scaled", "raw", "min", "max"]))
            {
                Score(score, field + ".score");
            }
        }

        private void Score(JsonElement score, string field)
        {
            double? Value(string name) => score.TryGetProperty(name, out var v) ? Number(v, $"{field}.{name}") : null;
            var scaled = Value("scaled");
            var raw = Value("raw");
            var min = Value("min");
            var max = Value("max");
            if (scaled is < -1 or > 1)
            {
                Add(field + ".scaled", "must be between -1 and 1.");
            }

            if (min is not null && max is not null && min >= max)
            {
                Add(field + ".min", "must be less than max.");
            }

            if (raw is not null && (raw < min || raw > max))
            {
                Add(field + ".raw", "must be between min and max.");
            }
        }

        public Guid? Context(JsonElement statement, string prefix, StatementObjectKind? objectKind)
        {
            var field = prefix + "context";
            if (!statement.TryGetProperty("context", out var context) ||
                !Object(context, field, ["registration", "instructor", "team", "contextActivities", "revision", "platform", "language", "statement", "extensions"]))
            {
                return null;
            }

            Guid? registration = null;
            if (context.TryGetProperty("registration", out var r) && String(r, field + ".registration") is { } text)
            {
                registration = Uuid(text, field + ".registration");
            }

            if (context.TryGetProperty("instructor", out var instructor))
            {
                AgentOrGroup(instructor, field + ".instructor");
            }

            if (context.TryGetProperty("team", out var team) && Kind(team, field + ".team", JsonValueKind.Object, "a Group"))
            {
                if (!team.TryGetProperty("objectType", out var teamType) || teamType.ValueKind != JsonValueKind.String || teamType.GetString() != "Group")
                {
                    Add(field + ".team.objectType", "must be Group.");
                }
                else
                {
                    AgentOrGroup(team, field + ".team");
                }
            }

            foreach (var name in new[] { "revision", "platform" })
            {
                if (context.TryGetProperty(name, out var value))
                {
                    String(value, $"{field}.{name}");
                    if (objectKind is not null and not StatementObjectKind.Activity)
                    {
                        Add($"{field}.{name}", "may only be given when the statement's object is an Activity.");
                    }
                }
            }

            if (context.TryGetProperty("language", out var language) && String(language, field + ".language") is { } tag && !LanguageTag().IsMatch(tag))
            {
                Add(field + ".language", "must be an RFC 5646 language tag, such as en-GB.");
            }

            if (context.TryGetProperty("statement", out var reference))
            {
                if (reference.ValueKind == JsonValueKind.Object &&
                    (!reference.TryGetProperty("objectType", out var refType) || refType.ValueKind != JsonValueKind.String || refType.GetString() != "StatementRef"))
                {
                    Add(field + ".statement.objectType", "must be StatementRef.");
                }

                StatementRef(reference, field + ".statement");
            }

            if (context.TryGetProperty("extensions", out var extensions))
            {
                Extensions(extensions, field + ".extensions");
            }

            if (context.TryGetProperty("contextActivities", out var activities) &&
                Object(activities, field + ".contextActivities", ["parent", "grouping", "category", "other"]))
            {
                foreach (var entry in activities.EnumerateObject())
                {
                    var path = $"{field}.contextActivities.{entry.Name}";
                    if (entry.Value.ValueKind == JsonValueKind.Array)
                    {
                        var i = 0;
                        foreach (var activity in entry.Value.EnumerateArray())
                        {
                            ContextActivity(activity, $"{path}[{i++}]");
                        }
                    }
                    else
                    {
                        ContextActivity(entry.Value, path);
                    }
                }
            }

            return registration;
        }

        private void ContextActivity(JsonElement value, string field)
        {
            if (value.ValueKind == JsonValueKind.Object && value.TryGetProperty("objectType", out var type) &&
                (type.ValueKind != JsonValueKind.String || type.GetString() != "Activity"))
            {
                Add(field + ".objectType", "must be Activity.");
                return;
            }

            Activity(value, field);
        }

        public void Attachments(JsonElement statement, string prefix)
        {
            var field = prefix + "attachments";
            if (!statement.TryGetProperty("attachments", out var attachments) ||
                !Kind(attachments, field, JsonValueKind.Array, "an array of attachments"))
            {
                return;
            }

            var i = 0;
            foreach (var attachment in attachments.EnumerateArray())
            {
                var path = $"{field}[{i++}]";
                if (!Object(attachment, path, ["usageType", "display", "description", "contentType", "length", "sha2", "fileUrl"]))
                {
                    continue;
                }

                foreach (var required in new[] { "usageType", "display", "contentType", "length", "sha2" })
                {
                    if (!attachment.TryGetProperty(required, out _))
                    {
                        Add($"{path}.{required}", "is required.");
                    }
                }

                if (attachment.TryGetProperty("usageType", out var usage))
                {
                    Iri(usage, path + ".usageType");
                }

                if (attachment.TryGetProperty("display", out var display))
                {
                    LanguageMap(display, path + ".display");
                }

                if (attachment.TryGetProperty("description", out var description))
                {
                    LanguageMap(description, path + ".description");
                }

                if (attachment.TryGetProperty("contentType", out var contentType))
                {
                    String(contentType, path + ".contentType");
                }

                if (attachment.TryGetProperty("length", out var length) && Kind(length, path + ".length", JsonValueKind.Number, "a whole number") &&
                    (!length.TryGetInt64(out var octets) || octets < 0))
                {
                    Add(path + ".length", "must be a whole number of octets.");
                }

                if (attachment.TryGetProperty("sha2", out var sha2))
                {
                    String(sha2, path + ".sha2");
                }

                // The attachment's data would come as a multipart/mixed part, which this service does not take.
                if (attachment.TryGetProperty("fileUrl", out var fileUrl))
                {
                    Iri(fileUrl, path + ".fileUrl");
                }
                else
                {
                    Add(path + ".fileUrl", "is required: attachments are accepted by fileUrl only, not as multipart/mixed parts.");
                }
            }
        }

        /// <summary>A property's field; a single statement's own properties are named alone (<c>verb</c>, not <c>body.verb</c>).</summary>
        private static string Join(string field, string name) => field == "body" ? name : $"{field}.{name}";
    }

    private static bool IsIri(string text) => text.Length <= 4096 && Iri().IsMatch(text);

    /// <summary>
    /// An ISO 8601 date and time in the extended format. Without a zone it is read as UTC (xAPI only
    /// recommends one); fractions beyond the tick are cut, as xAPI allows below a millisecond.
    /// </summary>
    public static DateTimeOffset? ParseTimestamp(string text)
    {
        var match = TimestampPattern().Match(text);
        if (!match.Success)
        {
            return null;
        }

        var fraction = match.Groups["fraction"].Value;
        var zone = match.Groups["zone"].Value.ToUpperInvariant() switch
        {
            "" or "Z" => "+00:00",
            var z when z.Length == 3 => z + ":00",
            var z when z.Length == 5 => $"{z[..3]}:{z[3..]}",
            var z => z,
        };
        var normal = $"{match.Groups["date"].Value}T{match.Groups["time"].Value}{(fraction.Length > 8 ? fraction[..8] : fraction)}{zone}";
        return DateTimeOffset.TryParseExact(normal, ["yyyy-MM-dd'T'HH:mm:ssK", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK"], CultureInfo.InvariantCulture,
            DateTimeStyles.None, out var at)
            ? at
            : null;
    }

    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s\p{Cc}]+\z", RegexOptions.CultureInvariant)]
    private static partial Regex Iri();

    [GeneratedRegex(@"^(?<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt](?<time>[0-9]{2}:[0-9]{2}:[0-9]{2})(?<fraction>\.[0-9]+)?(?<zone>[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?\z", RegexOptions.CultureInvariant)]
    private static partial Regex TimestampPattern();

    [GeneratedRegex(@"^P(?:[0-9]+(?:\.[0-9]+)?W|(?=[0-9]|T[0-9])(?:[0-9]+(?:\.[0-9]+)?Y)?(?:[0-9]+(?:\.[0-9]+)?M)?(?:[0-9]+(?:\.[0-9]+)?D)?(?:T(?=[0-9])(?:[0-9]+(?:\.[0-9]+)?H)?(?:[0-9]+(?:\.[0-9]+)?M)?(?:[0-9]+(?:\.[0-9]+)?S)?)?)\z", RegexOptions.CultureInvariant)]
    private static partial Regex Duration();

    [GeneratedRegex(@"^mailto:[^@\s]+@[^@\s]+\z", RegexOptions.CultureInvariant)]
    private static partial Regex Mailbox();

    [GeneratedRegex(@"^[0-9a-fA-F]{40}\z", RegexOptions.CultureInvariant)]
    private static partial Regex Sha1();

    [GeneratedRegex(@"^1\.0\.[0-9]+\z", RegexOptions.CultureInvariant)]
    private static partial Regex StatementVersion();

    /// <summary>RFC 5646's language tag, best effort as xAPI permits: language, script, region, variants, extensions, private use.</summary>
    [GeneratedRegex(@"^(?:(?:[A-Za-z]{2,3}(?:-[A-Za-z]{3}){0,3}|[A-Za-z]{4,8})(?:-[A-Za-z]{4})?(?:-(?:[A-Za-z]{2}|[0-9]{3}))?(?:-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*(?:-[0-9A-WY-Za-wy-z](?:-[A-Za-z0-9]{2,8})+)*(?:-[Xx](?:-[A-Za-z0-9]{1,8})+)?|[Xx](?:-[A-Za-z0-9]{1,8})+)\z", RegexOptions.CultureInvariant)]
    private static partial Regex LanguageTag();
}
