using System.Collections.Concurrent;
using System.Net.Mail;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using HandlebarsDotNet;
using SendWorkflows.Storage;
using SendWorkflows.Workflow;

namespace SendWorkflows.Email;

/// <summary>
/// Renders an outbox email effect into a message: subject, plain text and HTML from the Handlebars
/// templates shipped with the app (the same syntax as SendGrid dynamic templates), plus the headers
/// that let support staff, webhooks and tests tell messages apart.
/// <para>
/// Templates that use only <c>{{name}}</c> and <c>{{#if name}}…{{else}}…{{/if}}</c> (all shipped
/// ones but the digest) are rendered once per shape — which fields are filled — with a tag such as
/// <c>[[sw:givenName]]</c> in place of each value, and each message is that shared form with its
/// values substituted. The result is the same text Handlebars would produce for the message (values
/// are escaped for HTML by the same Handlebars instance), and the shared form lets the SendGrid
/// transport send up to 1,000 messages in one request with per-recipient <c>substitutions</c>.
/// </para>
/// </summary>
public sealed partial class EmailComposer
{
    /// <summary>A placeholder sender on a reserved domain: nothing sent with it can reach anyone by mistake.</summary>
    public const string DefaultFrom = "SEND and inclusion training <no-reply@sendworkflows.invalid>";

    private readonly IHandlebars _text = Handlebars.Create(new HandlebarsConfiguration { NoEscape = true });
    private readonly IHandlebars _html = Handlebars.Create();
    private readonly ConcurrentDictionary<string, CompiledTemplate> _templates = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SharedForm> _forms = new(StringComparer.Ordinal);
    private readonly EmailAddress _from;

    private readonly Preferences.PreferenceTokens _preferences;

    public EmailComposer(IConfiguration configuration, Preferences.PreferenceTokens preferences)
    {
        _preferences = preferences;
        var from = configuration["Email:From"];
        var address = new MailAddress(string.IsNullOrWhiteSpace(from) ? DefaultFrom : from);
        _from = new EmailAddress(address.Address, string.IsNullOrEmpty(address.DisplayName) ? null : address.DisplayName);
    }

    public EmailMessage Compose(OutboxItem item, EmailEffect effect, DateTimeOffset date)
    {
        var template = _templates.GetOrAdd(effect.Template, Compile);
        var headers = new Dictionary<string, string>(4, StringComparer.Ordinal)
        {
            [EmailMessage.TemplateHeader] = effect.Template,
        };
        var model = ModelOf(effect.Model, effect.Rows);
        string? unsubscribe = null;
        if (item.EnrolmentId is { } enrolmentId)
        {
            headers[EmailMessage.EnrolmentHeader] = enrolmentId.ToString();
            var preferences = _preferences.Url(Preferences.PreferenceSubject.Enrolment, enrolmentId);
            model["preferencesUrl"] = preferences;
            unsubscribe = EmailTemplates.IsNonEssential(effect.Template) ? preferences : null;
        }
        else if (effect.Model.TryGetValue("contactId", out var contact) && Guid.TryParse(contact, out var contactId))
        {
            // A school lead's digest: the link stops the digest for that lead.
            unsubscribe = _preferences.Url(Preferences.PreferenceSubject.SchoolContact, contactId);
            model["preferencesUrl"] = unsubscribe;
        }

        if (unsubscribe is not null)
        {
            // RFC 2369 and RFC 8058: mailbox providers show an unsubscribe button and POST the one-click body to the URL.
            headers[EmailMessage.ListUnsubscribeHeader] = $"<{unsubscribe}>";
            headers[EmailMessage.ListUnsubscribePostHeader] = "List-Unsubscribe=One-Click";
        }

        // The same effect always gets the same Message-ID, so a resend after a crash is recognisable.
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(item.DedupeKey)))[..24];
        var domain = _from.Address.Split('@')[^1];
        var subject = template.Subject(model).Trim();
        var to = new EmailAddress(effect.To.Email, effect.To.Name);
        return Share(effect.Template, template, model) is { } shared
            ? new EmailMessage($"<{hash}@{domain}>", _from, to, subject, date, headers, shared)
            : new EmailMessage($"<{hash}@{domain}>", _from, to, subject, template.Text(model), template.Html(model), date, headers);
    }

    /// <summary>The message's shared form and its values, or null when a value could be mistaken for a tag.</summary>
    private SharedContent? Share(string name, CompiledTemplate template, Dictionary<string, object> model)
    {
        if (!template.Substitutable)
        {
            return null;
        }

        var filled = new List<(FieldTags Field, string Value)>(model.Count);
        foreach (var (key, value) in model)
        {
            if (value is not string text || text.Contains(TagStart, StringComparison.Ordinal) || TagsOf(key) is not { } field)
            {
                return null;
            }

            if (text.Length > 0)
            {
                filled.Add((field, text));
            }
        }

        filled.Sort(static (a, b) => string.CompareOrdinal(a.Field.Name, b.Field.Name));
        var shape = $"{name}:{string.Join(',', filled.Select(f => f.Field.Name))}";
        var form = _forms.GetOrAdd(shape, _ =>
        {
            var text = template.Text(filled.ToDictionary(f => f.Field.Name, f => (object)f.Field.Text, StringComparer.Ordinal));
            var html = template.Html(filled.ToDictionary(f => f.Field.Name, f => (object)f.Field.Html, StringComparer.Ordinal));
            return new SharedForm(text, html, SharedContent.Segments(text), SharedContent.Segments(html));
        });

        var values = new Dictionary<string, string>(filled.Count * 2, StringComparer.Ordinal);
        foreach (var (field, value) in filled)
        {
            if (form.Uses(field.Text))
            {
                values[field.Text] = value;
            }

            if (form.Uses(field.Html))
            {
                values[field.Html] = EscapeHtml(value);
            }
        }

        return new SharedContent(shape, form.Text, form.Html, values) { TextSegments = form.TextSegments, HtmlSegments = form.HtmlSegments };
    }

    /// <summary>A value escaped exactly as the HTML templates escape <c>{{value}}</c>: by the same Handlebars encoder.</summary>
    private string EscapeHtml(string value)
    {
        // Most values (names, dates, links) have nothing to escape: then the value is its own escape.
        var unchanged = _unescaped ??= UnescapedAscii();
        if (!value.AsSpan().ContainsAnyExcept(unchanged))
        {
            return value;
        }

        using var writer = new StringWriter(System.Globalization.CultureInfo.InvariantCulture);
        Encoder.Encode(value, writer);
        return writer.ToString();
    }

    private System.Buffers.SearchValues<char>? _unescaped;

    private ITextEncoder Encoder => _html.Configuration.TextEncoder ?? throw new InvalidOperationException("The HTML templates must escape values.");

    /// <summary>The printable ASCII characters the encoder leaves as they are, found by asking it about each one.</summary>
    private System.Buffers.SearchValues<char> UnescapedAscii()
    {
        var kept = new List<char>();
        for (var c = ' '; c <= '~'; c++)
        {
            using var writer = new StringWriter(System.Globalization.CultureInfo.InvariantCulture);
            Encoder.Encode(c.ToString(), writer);
            if (writer.ToString() == c.ToString())
            {
                kept.Add(c);
            }
        }

        return System.Buffers.SearchValues.Create(kept.ToArray());
    }

    private const string TagStart = SharedContent.TagStart;

    /// <summary>A model field's tags in the shared forms: <c>[[sw:name]]</c> in text, <c>[[sw:name:html]]</c> in HTML.</summary>
    private sealed record FieldTags(string Name, string Text, string Html);

    private static readonly ConcurrentDictionary<string, FieldTags?> Fields = new(StringComparer.Ordinal);

    /// <summary>The field's tags, or null for a name a tag cannot carry. Names are the app's own model fields, a few dozen.</summary>
    private static FieldTags? TagsOf(string name) =>
        Fields.TryGetValue(name, out var tags) ? tags
        : Fields.GetOrAdd(name, static n => FieldName().IsMatch(n) ? new FieldTags(n, $"{TagStart}{n}]]", $"{TagStart}{n}:html]]") : null);

    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9]*\z", RegexOptions.CultureInvariant)]
    private static partial Regex FieldName();

    /// <summary>Only plain fields and <c>#if</c>/<c>else</c> on a field: then filling the shared form is exactly rendering.</summary>
    [GeneratedRegex(@"^(?:#if [A-Za-z][A-Za-z0-9]*|else|/if|[A-Za-z][A-Za-z0-9]*)\z", RegexOptions.CultureInvariant)]
    private static partial Regex SimpleExpression();

    [GeneratedRegex(@"\{\{(.*?)\}\}", RegexOptions.CultureInvariant | RegexOptions.Singleline)]
    private static partial Regex Mustache();

    private static bool IsSimple(string source) =>
        !source.Contains(TagStart, StringComparison.Ordinal) &&
        Mustache().Matches(source).All(m => SimpleExpression().IsMatch(m.Groups[1].Value.Trim()));

    private sealed record SharedForm(string Text, string Html, List<(string Literal, string? Tag)> TextSegments, List<(string Literal, string? Tag)> HtmlSegments)
    {
        private readonly HashSet<string> _tags = TextSegments.Concat(HtmlSegments).Where(s => s.Tag is not null).Select(s => s.Tag!).ToHashSet(StringComparer.Ordinal);

        public bool Uses(string tag) => _tags.Contains(tag);
    }

    private static Dictionary<string, object> ModelOf(IReadOnlyDictionary<string, string> fields, IReadOnlyList<IReadOnlyDictionary<string, string>>? rows)
    {
        var model = new Dictionary<string, object>(fields.Count + 2, StringComparer.Ordinal);
        foreach (var (key, value) in fields)
        {
            model[key] = value;
        }

        if (rows is not null)
        {
            model["rows"] = rows;
        }

        return model;
    }

    /// <summary>The templates shipped with the app, by name (welcome, completion, certificate, …).</summary>
    public static IReadOnlyList<string> TemplateNames { get; } = Assembly.GetExecutingAssembly().GetManifestResourceNames()
        .Where(n => n.StartsWith("templates/", StringComparison.Ordinal) && n.EndsWith(".subject.hbs", StringComparison.Ordinal))
        .Select(n => n["templates/".Length..^".subject.hbs".Length])
        .Order(StringComparer.Ordinal)
        .ToList();

    /// <summary>Renders a template with the given model (and rows, for list templates), for review: subject, plain text and HTML.</summary>
    public (string Subject, string Text, string Html) Render(
        string template, IReadOnlyDictionary<string, string> fields, IReadOnlyList<IReadOnlyDictionary<string, string>>? rows = null)
    {
        var compiled = _templates.GetOrAdd(template, Compile);
        var model = ModelOf(fields, rows);
        return (compiled.Subject(model).Trim(), compiled.Text(model), compiled.Html(model));
    }

    private CompiledTemplate Compile(string name)
    {
        var (text, html) = (Read($"{name}.text.hbs"), Read($"{name}.html.hbs"));
        return new(_text.Compile(Read($"{name}.subject.hbs")), _text.Compile(text), _html.Compile(html), IsSimple(text) && IsSimple(html));
    }

    private static string Read(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream($"templates/{name}")
                           ?? throw new InvalidOperationException($"No email template '{name}' is shipped with the app.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private sealed record CompiledTemplate(
        HandlebarsTemplate<object, object> Subject,
        HandlebarsTemplate<object, object> Text,
        HandlebarsTemplate<object, object> Html,
        bool Substitutable);
}
