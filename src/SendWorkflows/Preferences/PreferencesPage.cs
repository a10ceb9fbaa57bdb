using System.Globalization;
using System.Text;
using SendWorkflows.Programmes;
using SendWorkflows.Workflow;
using static SendWorkflows.Http.HtmlPage;

namespace SendWorkflows.Preferences;

/// <summary>
/// The person's own page: where they are in the programme and their choice of reminder emails. It
/// shows their given name and progress only — never their email address — because whoever holds the
/// link (anyone the email was forwarded to) can open it.
/// </summary>
public static class PreferencesPage
{
    public static string For(EnrolmentState s, ProgrammeDefinition programme, bool? saved)
    {
        var zone = programme.Zone;
        var body = new StringBuilder();
        body.Append(CultureInfo.InvariantCulture, $"<h1>Your training</h1>\n<p>Hello {E(s.Staff.GivenName)}. This page shows your progress on <strong>{E(programme.Title)}</strong> and the emails you get about it.</p>\n");
        if (saved is { } savedOn)
        {
            body.Append(savedOn
                ? "<div class=\"status\" style=\"border-left-color: #00703c\" role=\"status\"><h2>Saved: reminders are on</h2><p>We will remind you until you finish.</p></div>\n"
                : "<div class=\"status\" style=\"border-left-color: #00703c\" role=\"status\"><h2>Saved: reminders are off</h2><p>You will not get reminder emails. Emails about sessions you book and your certificate still come.</p></div>\n");
        }

        body.Append(CultureInfo.InvariantCulture, $"<h2>Where you are</h2>\n<p>{E(StatusInWords(s, zone))}</p>\n<dl>\n<dt>Deadline</dt><dd>{E(Date(s.Deadline, zone))}</dd>\n</dl>\n");
        body.Append("<h2>Online modules</h2>\n<ul>\n");
        foreach (var module in programme.Modules)
        {
            var done = s.ModulesCompleted.TryGetValue(module.Id, out var at) ? $"completed on {Date(at, zone)}" : "not completed yet";
            var optional = module.Required ? "" : " (optional)";
            body.Append(CultureInfo.InvariantCulture, $"<li>{E(module.Title)}{optional}: {E(done)}</li>\n");
        }

        body.Append("</ul>\n");
        if (programme.LiveSessionsRequired > 0)
        {
            var attended = s.Sessions.Values.Count(x => x.Attended);
            var booked = s.Sessions.Values.Where(x => x is { Booked: true, AttendedAt: null, MissedReported: false, StartsAt: not null })
                .Select(x => $"{x.Title ?? "A live session"}, {Date(x.StartsAt!.Value, zone)}").ToList();
            body.Append(CultureInfo.InvariantCulture, $"<h2>Live sessions</h2>\n<p>Attended {attended} of {programme.LiveSessionsRequired} required.</p>\n");
            if (booked.Count > 0)
            {
                body.Append("<p>Booked:</p>\n<ul>\n");
                foreach (var b in booked)
                {
                    body.Append(CultureInfo.InvariantCulture, $"<li>{E(b)}</li>\n");
                }

                body.Append("</ul>\n");
            }
        }

        if (s.CompletedAt is null && s.WithdrawnAt is null)
        {
            var on = !s.RemindersOff;
            body.Append(CultureInfo.InvariantCulture, $"""
                <h2>Email preferences</h2>
                <form method="post">
                <fieldset>
                <legend>Reminder emails</legend>
                <div><input type="radio" id="reminders-on" name="reminders" value="on"{(on ? " checked" : "")}><label for="reminders-on">Send me reminders until I finish</label></div>
                <div><input type="radio" id="reminders-off" name="reminders" value="off"{(on ? "" : " checked")}><label for="reminders-off">Stop reminder emails</label></div>
                </fieldset>
                <p>Emails about live sessions you book, and your certificate, are always sent.</p>
                <button type="submit">Save my choice</button>
                </form>

                """);
        }

        return Page($"Your training: {programme.Title}", body.ToString());
    }

    /// <summary>A school lead's page for the weekly digest: stop it, or confirmation that it has stopped.</summary>
    public static string ForContact(string? schoolUrn, bool stopped) =>
        stopped
            ? Page("Weekly training summary stopped", """
                <h1>Weekly training summary</h1>
                <div class="status" style="border-left-color: #00703c" role="status"><h2>You will not get the weekly summary</h2>
                <p>Your school can register you again at any time.</p></div>
                """)
            : Page("Weekly training summary", $"""
                <h1>Weekly training summary</h1>
                <p>You get a weekly summary of SEND and inclusion training at school {E(schoolUrn ?? "")}: who is behind, and why.</p>
                <form method="post">
                <input type="hidden" name="reminders" value="off">
                <button type="submit">Stop the weekly summary</button>
                </form>
                """);

    public static string NotFound() =>
        Page("Link not recognised", """
            <h1>This link is not recognised</h1>
            <p>Please use the link in the most recent email we sent you, copied in full. If it still does not work, ask your school's training lead.</p>
            """);

    private static string StatusInWords(EnrolmentState s, TimeZoneInfo zone) => s.Status switch
    {
        EnrolmentStatus.Completed => $"You completed the training on {Date(s.CompletedAt!.Value, zone)}. Well done.",
        EnrolmentStatus.Withdrawn => "You have been withdrawn from this training. Your school can reinstate you.",
        EnrolmentStatus.Lapsed => "Your deadline has passed. Your school's training lead can extend it so that you can finish.",
        EnrolmentStatus.AwaitingLiveSession => "You have completed the online modules. Attend a live session to finish.",
        EnrolmentStatus.InProgress => "You have started. Carry on with the modules below.",
        _ => "You have not started yet. Begin with the first module below.",
    };

    private static string Date(DateTimeOffset at, TimeZoneInfo zone) =>
        TimeZoneInfo.ConvertTime(at, zone).ToString("d MMMM yyyy", CultureInfo.InvariantCulture);
}
