using System.Collections.Concurrent;
using System.Net.Mail;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using HandlebarsDotNet;
using SendWorkflows.Storage;
using SendWorkflows.Workflow;

namespace SendWorkflows.Email;

/// <summary>
/// Renders an outbox email effect into a message: subject, plain text and HTML from the Handlebars
/// templates shipped with the app (the same syntax as SendGrid dynamic templates), plus the headers
/// that let support staff, webhooks and tests tell messages apart.
/// </summary>
public sealed class EmailComposer
{
    /// <summary>A placeholder sender on a reserved domain: nothing sent with it can reach anyone by mistake.</summary>
    public const string DefaultFrom = "SEND and inclusion training <no-reply@sendworkflows.invalid>";

    private readonly IHandlebars _text = Handlebars.Create(new HandlebarsConfiguration { NoEscape = true });
    private readonly IHandlebars _html = Handlebars.Create();
    private readonly ConcurrentDictionary<string, CompiledTemplate> _templates = new(StringComparer.Ordinal);
    private readonly EmailAddress _from;

    public EmailComposer(IConfiguration configuration)
    {
        var from = configuration["Email:From"];
        var address = new MailAddress(string.IsNullOrWhiteSpace(from) ? DefaultFrom : from);
        _from = new EmailAddress(address.Address, string.IsNullOrEmpty(address.DisplayName) ? null : address.DisplayName);
    }

    public EmailMessage Compose(OutboxItem item, EmailEffect effect, DateTimeOffset date)
    {
        var template = _templates.GetOrAdd(effect.Template, Compile);
        var headers = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [EmailMessage.TemplateHeader] = effect.Template,
        };
        if (item.EnrolmentId is { } enrolmentId)
        {
            headers[EmailMessage.EnrolmentHeader] = enrolmentId.ToString();
        }

        // The same effect always gets the same Message-ID, so a resend after a crash is recognisable.
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(item.DedupeKey)))[..24];
        var domain = _from.Address.Split('@')[^1];
        var model = ModelOf(effect.Model, effect.Rows);
        return new EmailMessage($"<{hash}@{domain}>", _from, new EmailAddress(effect.To.Email, effect.To.Name),
            template.Subject(model).Trim(), template.Text(model), template.Html(model), date, headers);
    }

    private static object ModelOf(IReadOnlyDictionary<string, string> fields, IReadOnlyList<IReadOnlyDictionary<string, string>>? rows)
    {
        if (rows is null)
        {
            return fields;
        }

        var model = fields.ToDictionary(p => p.Key, p => (object)p.Value, StringComparer.Ordinal);
        model["rows"] = rows;
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

    private CompiledTemplate Compile(string name) =>
        new(_text.Compile(Read($"{name}.subject.hbs")), _text.Compile(Read($"{name}.text.hbs")), _html.Compile(Read($"{name}.html.hbs")));

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
        HandlebarsTemplate<object, object> Html);
}
