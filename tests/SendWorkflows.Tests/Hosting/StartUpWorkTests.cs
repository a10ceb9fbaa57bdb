using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SendWorkflows.Hosting;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Hosting;

/// <summary>What the service does, and does not do, before it answers its first request.</summary>
public sealed class StartUpWorkTests
{
    [Fact]
    public async Task no_data_protection_key_ring_is_loaded_or_written_at_start_up_and_the_api_still_authenticates()
    {
        await using var app = new TestApp();

        var hosted = app.Services.GetServices<IHostedService>().Select(s => s.GetType().FullName).ToList();
        Assert.Contains(typeof(WorkflowLoop).FullName, hosted);
        Assert.DoesNotContain(hosted, name => name!.Contains("DataProtection", StringComparison.Ordinal));

        // Authentication, which brought data protection in, still works without it.
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await app.Anonymous().GetAsync($"/api/v1/programmes/{TestApp.Programme}")).StatusCode);
        Assert.True((await app.Admin().GetAsync($"/api/v1/programmes/{TestApp.Programme}")).IsSuccessStatusCode);
    }
}
