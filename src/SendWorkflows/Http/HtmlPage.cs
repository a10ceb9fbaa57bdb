using System.Text.Encodings.Web;

namespace SendWorkflows.Http;

/// <summary>
/// The shell of the service's public HTML pages (certificate checks, email preferences): plain HTML
/// that works without scripts, real headings, and colours that pass WCAG 2.2 AA contrast on white.
/// </summary>
public static class HtmlPage
{
    public static string Page(string title, string body) => $$"""
        <!DOCTYPE html>
        <html lang="en-GB">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{E(title)}}</title>
        <style>
          body { font-family: Arial, sans-serif; font-size: 19px; line-height: 1.5; color: #0b0c0c; background: #ffffff; margin: 0; }
          main { max-width: 40em; margin: 0 auto; padding: 1.5em; }
          h1 { font-size: 2em; margin: 0 0 0.75em; }
          h2 { font-size: 1.25em; margin: 0 0 0.25em; }
          .status { border-left: 8px solid; padding: 0.5em 1em; margin-bottom: 1.5em; background: #f3f2f1; }
          dt { font-weight: bold; }
          dd { margin: 0 0 0.75em; }
          fieldset { border: 0; padding: 0; margin: 0 0 1em; }
          legend { font-weight: bold; margin-bottom: 0.5em; }
          label { display: inline-block; margin: 0.25em 0; }
          input[type=radio] { width: 1.25em; height: 1.25em; vertical-align: middle; margin-right: 0.5em; }
          button { font-size: 1em; padding: 0.5em 1em; color: #ffffff; background: #00703c; border: 2px solid #002d18; }
          button:focus, input:focus { outline: 3px solid #ffdd00; outline-offset: 0; }
        </style>
        </head>
        <body>
        <main>
        {{body}}
        </main>
        </body>
        </html>
        """;

    /// <summary>A caller that asks for JSON and not HTML (an API client rather than a browser) gets problem details.</summary>
    public static bool PrefersJson(HttpRequest request)
    {
        var accept = request.Headers.Accept.ToString();
        return accept.Contains("json", StringComparison.OrdinalIgnoreCase) && !accept.Contains("text/html", StringComparison.OrdinalIgnoreCase);
    }

    public static IResult Html(string html, int status = StatusCodes.Status200OK) =>
        TypedResults.Content(html, "text/html; charset=utf-8", System.Text.Encoding.UTF8, status);

    public static string E(string text) => HtmlEncoder.Default.Encode(text);
}
