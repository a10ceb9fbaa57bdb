using System.Net;
using SendWorkflows.Tests.TestSupport;
using SendWorkflows.Webhooks;

namespace SendWorkflows.Tests.Webhooks;

public sealed class WebhookNetworkTests
{
    [Theory]
    [InlineData("127.0.0.1", false)]
    [InlineData("10.0.0.5", false)]
    [InlineData("172.16.0.1", false)]
    [InlineData("172.31.255.255", false)]
    [InlineData("192.168.1.1", false)]
    [InlineData("169.254.169.254", false)]
    [InlineData("100.64.0.1", false)]
    [InlineData("0.0.0.0", false)]
    [InlineData("224.0.0.1", false)]
    [InlineData("::1", false)]
    [InlineData("fe80::1", false)]
    [InlineData("fd12:3456::1", false)]
    [InlineData("::ffff:10.0.0.1", false)]
    [InlineData("2001:db8::1", false)]
    [InlineData("172.32.0.1", true)]
    [InlineData("81.2.69.160", true)]
    [InlineData("2a00:1450:4009:81f::200e", true)]
    public void only_addresses_on_the_internet_count_as_public(string address, bool isPublic) =>
        Assert.Equal(isPublic, WebhookNetwork.IsPublic(IPAddress.Parse(address)));

    [Fact]
    public async Task a_name_that_resolves_to_loopback_is_refused_when_connecting_and_redirects_are_never_followed()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        using var guarded = new HttpClient(WebhookNetwork.Handler(allowPrivateNetworks: false));
        var byName = new UriBuilder(receiver.BaseUrl) { Host = "localhost", Path = "/hooks" }.Uri;
        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => guarded.PostAsync(byName, new StringContent("{}")));
        Assert.Contains("not a public address", refused.Message, StringComparison.Ordinal);
        Assert.Empty(receiver.Requests());

        using var open = new HttpClient(WebhookNetwork.Handler(allowPrivateNetworks: true));
        receiver.Answer("/hooks", 302);
        var response = await open.PostAsync(byName, new StringContent("{}"));
        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.Equal(["/hooks"], receiver.Requests().Select(r => r.Path));
    }
}
