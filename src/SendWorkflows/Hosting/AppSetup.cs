using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.Options;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing.Template;
using Microsoft.Extensions.DependencyInjection.Extensions;
using SendWorkflows.Certificates;
using SendWorkflows.Clients;
using SendWorkflows.Email;
using SendWorkflows.Enrolments;
using SendWorkflows.Http;
using SendWorkflows.LiveSessions;
using SendWorkflows.Outbox;
using SendWorkflows.Preferences;
using SendWorkflows.Programmes;
using SendWorkflows.Progress;
using SendWorkflows.Reports;
using SendWorkflows.Schools;
using SendWorkflows.Storage;
using SendWorkflows.Webhooks;
using SendWorkflows.Workflow;
using SendWorkflows.Xapi;

namespace SendWorkflows.Hosting;

/// <summary>How the app is put together: services, the HTTP pipeline, and what happens at start-up.</summary>
public static class AppSetup
{
    public static WebApplicationBuilder AddSendWorkflows(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        var configuration = builder.Configuration;

        if (builder.Environment.IsProduction() && ProductionSafety.Problems(configuration) is { Count: > 0 } problems)
        {
            throw new UnsafeProductionConfigurationException(problems);
        }

        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = EnrolmentEndpoints.MaxBatchBytes + 1);
        builder.ListenForFunctionsHost();
        services.AddProblemDetails(o => o.CustomizeProblemDetails = NameTheField);
        services.ConfigureHttpJsonOptions(o => JsonBody.Configure(o.SerializerOptions));
        services.AddOpenApi();
        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddAuthorization();
        services.AddOptions<RateLimitOptions>().Bind(configuration.GetSection("RateLimits"))
            .Validate(o => o.IsValid, "RateLimits: TokenLimit and TokensPerPeriod must be at least 1, TokensPerPeriod at most TokenLimit, and ReplenishmentPeriod more than zero.")
            .ValidateOnStart();
        services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.AddPolicy<string, ApiKeyRateLimitPolicy>(ApiKeyRateLimitPolicy.Name);
        });

        services.TryAddSingleton(TimeProvider.System);
        services.Configure<WorkflowOptions>(configuration.GetSection("Workflow"));
        services.Configure<OutboxOptions>(configuration.GetSection("Outbox"));
        services.Configure<DigestOptions>(configuration.GetSection("Digest"));
        services.Configure<WebhookOptions>(configuration.GetSection("Webhooks"));

        services.AddSingleton<IWorkflowStore>(sp => CreateStore(configuration, sp));
        services.AddHttpClient(SendGridTransport.HttpClientName, client => client.Timeout = TimeSpan.FromSeconds(30));
        services.AddSingleton<IEmailTransport>(sp => CreateTransport(configuration, sp));
        services.AddHttpClient(WebhookSender.HttpClientName)
            .ConfigureHttpClient((sp, client) => client.Timeout = sp.GetRequiredService<IOptions<WebhookOptions>>().Value.Timeout)
            .ConfigurePrimaryHttpMessageHandler(sp => WebhookNetwork.Handler(
                sp.GetRequiredService<IOptions<WebhookOptions>>().Value.AllowPrivateNetworks ?? sp.GetRequiredService<IHostEnvironment>().IsDevelopment()));
        services.AddSingleton<WebhookSender>();
        services.AddSingleton<ProgrammeCatalogue>();
        services.AddSingleton<WorkSignal>();
        services.AddSingleton<EnrolmentWorkflow>();
        services.AddSingleton<EnrolmentAccess>();
        services.AddSingleton<EmailComposer>();
        services.AddSingleton<OutboxDispatcher>();
        services.AddSingleton<SchoolDigest>();
        services.AddSingleton<WorkflowPump>();
        services.AddSingleton<ApiKeyCache>();
        services.AddSingleton<PublicUrls>();
        services.AddSingleton<Certificates.CertificateLinks>();
        services.AddSingleton<Preferences.PreferenceTokens>();
        services.AddSingleton<Certificates.CertificateRenderer>();
        services.AddSingleton<Certificates.CertificateIssuer>();
        services.AddSingleton<StatementReader>();
        services.AddSingleton<StatementProgress>();
        services.AddSingleton<StartUpGate>();
        services.AddHostedService(sp => sp.GetRequiredService<StartUpGate>());
        services.AddHostedService<WorkflowLoop>();
        SkipDataProtectionStartUp(services);
        return builder;
    }

    /// <summary>
    /// Problems the framework raises itself (no route for the method, wrong media type) name the
    /// part of the request to fix, like every other problem of the API.
    /// </summary>
    private static void NameTheField(ProblemDetailsContext context)
    {
        var details = context.ProblemDetails;
        if (details is HttpValidationProblemDetails || details.Extensions.ContainsKey("errors"))
        {
            return;
        }

        var field = details.Status switch
        {
            StatusCodes.Status415UnsupportedMediaType => ("Content-Type", $"must be {AcceptedTypes(context.HttpContext)}."),
            StatusCodes.Status405MethodNotAllowed => ("method", $"{context.HttpContext.Request.Method} is not allowed on this path."),
            StatusCodes.Status404NotFound => ("path", "no such resource or route."),
            StatusCodes.Status413PayloadTooLarge => ("body", "is too large."),
            StatusCodes.Status400BadRequest => ("body", "could not be read."),
            StatusCodes.Status429TooManyRequests => ("Authorization", "this API key has made more requests than its limit allows."),
            _ => ((string, string)?)null,
        };
        if (field is var (name, message))
        {
            details.Extensions["errors"] = new Dictionary<string, string[]> { [name] = [message] };
        }
    }

    private static string AcceptedTypes(HttpContext http)
    {
        var types = http.GetEndpoint()?.Metadata.GetMetadata<IAcceptsMetadata>()?.ContentTypes;
        if (types is not { Count: > 0 })
        {
            // Routing refuses a media type before it picks an endpoint: ask the endpoints this path and method would have reached.
            types = http.RequestServices.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
                .Where(e => e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods.Contains(http.Request.Method, StringComparer.OrdinalIgnoreCase) != false &&
                            new TemplateMatcher(new RouteTemplate(e.RoutePattern), []).TryMatch(http.Request.Path, []))
                .SelectMany(e => e.Metadata.GetMetadata<IAcceptsMetadata>()?.ContentTypes ?? [])
                .Distinct(StringComparer.OrdinalIgnoreCase)
                .ToList();
        }

        return types is { Count: > 0 } ? string.Join(" or ", types) : "application/json";
    }

    /// <summary>The stores and email transports this build has.</summary>
    public static readonly IReadOnlyList<string> StoreProviders = ["sqlite", "postgres"];

    public static readonly IReadOnlyList<string> EmailTransports = ["outbox", "smtp", "sendgrid"];

    /// <summary>
    /// Authentication brings ASP.NET Core's data protection, whose hosted service loads a key ring at
    /// start-up and, on a machine that has none, creates one and writes it to the user's profile.
    /// Nothing in this service protects data with it (API keys are stored hashed; certificate links and
    /// preference links are signed with keys from configuration), so that start-up work is skipped. The
    /// key ring would still be loaded on first use if anything ever asked for a protector.
    /// </summary>
    private static void SkipDataProtectionStartUp(IServiceCollection services)
    {
        var keyRingLoader = services.FirstOrDefault(d => d.ServiceType == typeof(IHostedService)
            && d.ImplementationType?.FullName == "Microsoft.AspNetCore.DataProtection.Internal.DataProtectionHostedService");
        if (keyRingLoader is not null)
        {
            services.Remove(keyRingLoader);
        }
    }

    private static IWorkflowStore CreateStore(IConfiguration configuration, IServiceProvider services)
    {
        var provider = configuration["Storage:Provider"] ?? "sqlite";
        var connectionString = configuration["Storage:ConnectionString"];
        return provider.ToLowerInvariant() switch
        {
            "sqlite" => new SqliteStore(connectionString ?? "Data Source=data/sendworkflows.db", services.GetService<ILogger<SqliteStore>>()),
            "postgres" => new PostgresStore(connectionString
                ?? throw new InvalidOperationException("Storage:Provider is postgres but Storage:ConnectionString is not set (Host=…;Database=…;Username=…;Password=…).")),
            _ => throw new InvalidOperationException($"Storage:Provider '{provider}' is not supported; use 'sqlite' or 'postgres'."),
        };
    }

    private static IEmailTransport CreateTransport(IConfiguration configuration, IServiceProvider services)
    {
        var transport = configuration["Email:Transport"] ?? "outbox";
        return transport.ToLowerInvariant() switch
        {
            "outbox" => new OutboxFolderTransport(configuration["Email:OutboxPath"] ?? "data/outbox"),
            "smtp" => new SmtpTransport(configuration.GetSection("Email:Smtp").Get<SmtpOptions>() ?? new SmtpOptions()),
            "sendgrid" => new SendGridTransport(
                services.GetRequiredService<IHttpClientFactory>().CreateClient(SendGridTransport.HttpClientName),
                configuration.GetSection("SendGrid").Get<SendGridOptions>() ?? new SendGridOptions(),
                services.GetRequiredService<TimeProvider>()),
            _ => throw new InvalidOperationException($"Email:Transport '{transport}' is not supported; use {string.Join(" or ", EmailTransports)}."),
        };
    }

    public static WebApplication UseSendWorkflows(this WebApplication app)
    {
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            StatusCodeSelector = e => e switch
            {
                BadHttpRequestException bad => bad.StatusCode,
                // Another writer changed the same enrolment at the same moment and won (on PostgreSQL,
                // also a deadlock the server broke): nothing was stored, and sending it again will work.
                ConcurrentUpdateException or Npgsql.PostgresException { SqlState: "40P01" or "40001" } => StatusCodes.Status409Conflict,
                _ => StatusCodes.Status500InternalServerError,
            },
        });
        app.UseStatusCodePages();
        app.UseXapiHeaders();
        app.UseRouting();
        // Requests wait here until start-up's work is done (StartUpGate); after routing, so one that
        // arrives early has routing's matcher built in the meantime.
        app.Use(app.Services.GetRequiredService<StartUpGate>().HoldUntilReadyAsync);
        app.UseAuthentication();
        app.UseAuthorization();
        // After authorization, so only requests with a valid key count against that key.
        app.UseRateLimiter();
        app.UseMiddleware<IdempotencyMiddleware>();

        app.MapOpenApi();
        app.MapGet("/healthz", () => TypedResults.Ok(new Health("ok"))).WithTags("Service").AllowAnonymous();
        app.MapPost("/tick", FunctionsHost.TickAsync).WithTags("Service").AllowAnonymous()
            .WithSummary("One timer sweep and outbox dispatch pass. Safe to call at any time: single-flight and idempotent.");

        var api = app.MapGroup("/api/v1").RequireAuthorization().RequireRateLimiting(ApiKeyRateLimitPolicy.Name);
        api.MapClients();
        api.MapProgrammes();
        api.MapEnrolments();
        api.MapProgress();
        api.MapLiveSessions();
        api.MapOutbox();
        api.MapTemplatePreviews();
        api.MapSchoolContacts();
        api.MapWebhooks();
        api.MapSchoolDetails();
        api.MapReports();
        app.MapCertificates(api);
        app.MapSendGridEventWebhook();
        app.MapPreferences();
        // xAPI's own address, outside /api/v1 as learning platforms expect an LRS endpoint; a key is still required.
        app.MapXapi();
        app.Services.GetRequiredService<StartUpGate>().Begin(() =>
        {
            WarmUp(app);
            return Task.CompletedTask;
        });
        return app;
    }

    /// <summary>Liveness: the process is up and answering.</summary>
    public sealed record Health(string Status);

    /// <summary>
    /// Begins <see cref="InitialiseAsync"/> on another core, to run while the pipeline is built and the
    /// host starts (see <see cref="StartUpGate"/>): the host reports itself started, and answers
    /// requests, once it is done.
    /// </summary>
    public static void InitialiseWhileStarting(this WebApplication app) =>
        app.Services.GetRequiredService<StartUpGate>().Begin(() => app.InitialiseAsync());

    /// <summary>Migrations, the bundled programme and the first admin key: everything a first start needs.</summary>
    public static async Task InitialiseAsync(this WebApplication app, CancellationToken ct = default)
    {
        var services = app.Services;
        var store = services.GetRequiredService<IWorkflowStore>();
        await store.MigrateAsync(ct);
        await services.GetRequiredService<ProgrammeCatalogue>().EnsureDefaultProgrammeAsync(ct);
        await BootstrapAdmin.EnsureAsync(store, services.GetRequiredService<TimeProvider>(), app.Configuration, Console.Out, ct);
        // Fail at start, not at the first email, certificate or digest, if any is misconfigured.
        services.GetRequiredService<IEmailTransport>();
        services.GetRequiredService<SchoolDigest>();
        var links = services.GetRequiredService<CertificateLinks>();
        if (!app.Environment.IsDevelopment())
        {
            var log = services.GetRequiredService<ILoggerFactory>().CreateLogger("SendWorkflows.Startup");
            if (links.KeyWasGenerated)
            {
                log.LogWarning("Certificates:SigningKey is not set; links are signed with a key generated into the data folder. " +
                               "Set it when running more than one instance, or links signed by one will not open on another.");
            }

            if (string.IsNullOrWhiteSpace(app.Configuration["PublicBaseUrl"]))
            {
                log.LogWarning("PublicBaseUrl is not set; emails and certificates will link to {Url}, where the service listens.",
                    services.GetRequiredService<PublicUrls>().BaseFor(null));
            }
        }
    }

    /// <summary>
    /// What the first request would otherwise do before it is answered, done on another core while the
    /// host starts: building the routes' endpoints (their metadata is read through reflection) and the
    /// JSON serializer's first contract. On 2 cores a cold start answers about 15 ms sooner. The
    /// endpoints are built again for the first request, from what this has already loaded.
    /// </summary>
    private static void WarmUp(WebApplication app)
    {
        foreach (var source in ((IEndpointRouteBuilder)app).DataSources)
        {
            _ = source.Endpoints;
        }

        var json = app.Services.GetRequiredService<IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions;
        _ = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new Health("ok"), json);
    }
}
