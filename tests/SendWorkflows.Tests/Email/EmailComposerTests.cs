using SendWorkflows.Email;
using SendWorkflows.Preferences;
using SendWorkflows.Storage;
using SendWorkflows.Tests.TestSupport;
using SendWorkflows.Workflow;

namespace SendWorkflows.Tests.Email;

/// <summary>
/// A message built from a shared form with its values substituted (what lets SendGrid take 1,000 at
/// once) is exactly what Handlebars renders for that person, for every template and every shape.
/// </summary>
public sealed class EmailComposerTests
{
    public static TheoryData<string> Templates() => new(EmailComposer.TemplateNames.Where(t => t != "school-digest"));

    [Theory]
    [MemberData(nameof(Templates))]
    public async Task substituting_into_the_shared_form_gives_what_handlebars_renders(string template)
    {
        await using var app = new TestApp();
        var composer = app.Service<EmailComposer>();
        var tokens = app.Service<PreferenceTokens>();
        var enrolment = Guid.NewGuid();
        var awkward = TemplatePreviewEndpoints.SampleModel.ToDictionary(p => p.Key, p => p.Value + " <b>&amp;</b> \"'=` é", StringComparer.Ordinal);
        var sparse = new Dictionary<string, string>(TemplatePreviewEndpoints.SampleModel) { ["actionUrl"] = "", ["corrected"] = "" };
        sparse.Remove("nextModule");
        sparse.Remove("sessionLocation");

        foreach (var model in new[] { awkward, sparse })
        {
            var effect = new EmailEffect(template, "k", new EmailRecipient("a@example.org", "A"), model);
            var item = new OutboxItem(1, "k", enrolment, "email", template, "{}", OutboxStatus.Pending, 0, DateTimeOffset.UnixEpoch, null, DateTimeOffset.UnixEpoch, null);

            var message = composer.Compose(item, effect, DateTimeOffset.UnixEpoch);

            Assert.NotNull(message.Shared);
            var expected = composer.Render(template, new Dictionary<string, string>(model) { ["preferencesUrl"] = tokens.Url(PreferenceSubject.Enrolment, enrolment) });
            Assert.Equal(expected.Subject, message.Subject);
            Assert.Equal(expected.Text, message.TextBody);
            Assert.Equal(expected.Html, message.HtmlBody);
            Assert.DoesNotContain("[[sw:", message.TextBody + message.HtmlBody, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task a_value_that_looks_like_a_tag_is_rendered_directly_and_never_shared()
    {
        await using var app = new TestApp();
        var composer = app.Service<EmailComposer>();
        var model = new Dictionary<string, string>(TemplatePreviewEndpoints.SampleModel) { ["givenName"] = "[[sw:deadline]]" };
        var effect = new EmailEffect("welcome", "k", new EmailRecipient("a@example.org", "A"), model);
        var item = new OutboxItem(1, "k", Guid.NewGuid(), "email", "welcome", "{}", OutboxStatus.Pending, 0, DateTimeOffset.UnixEpoch, null, DateTimeOffset.UnixEpoch, null);

        var message = composer.Compose(item, effect, DateTimeOffset.UnixEpoch);

        Assert.Null(message.Shared);
        Assert.Contains("Dear [[sw:deadline]],", message.TextBody, StringComparison.Ordinal);
    }
}
