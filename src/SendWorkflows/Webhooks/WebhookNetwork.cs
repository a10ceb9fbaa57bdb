using System.Net;
using System.Net.Sockets;

namespace SendWorkflows.Webhooks;

/// <summary>
/// How deliveries reach receivers: no redirects followed (a moved receiver is a failure, so its owner
/// updates the subscription), no cookies, and, unless private networks are allowed, connections only to
/// public addresses, checked on the addresses actually connected to so that a name which resolves
/// to an internal address (or changes to one later) is refused too.
/// </summary>
public static class WebhookNetwork
{
    public static SocketsHttpHandler Handler(bool allowPrivateNetworks) => new()
    {
        AllowAutoRedirect = false,
        UseCookies = false,
        // A proxy would be the address connected to, and the receiver's own could not be checked.
        UseProxy = false,
        ConnectCallback = allowPrivateNetworks ? null : ConnectToPublicAddressAsync,
    };

    /// <summary>False for loopback, private, shared, link-local, multicast, documentation and other reserved ranges.</summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (IPAddress.IsLoopback(address))
        {
            return false;
        }

        var b = address.GetAddressBytes();
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            return !(b[0] is 0 or 10 or 127 or >= 224 ||
                     (b[0] == 100 && b[1] is >= 64 and <= 127) || // shared address space (carrier NAT)
                     (b[0] == 169 && b[1] == 254) || // link-local, including cloud metadata services
                     (b[0] == 172 && b[1] is >= 16 and <= 31) ||
                     (b[0] == 192 && b[1] == 168) ||
                     (b[0] == 192 && b[1] == 0 && b[2] is 0 or 2) ||
                     (b[0] == 198 && b[1] is 18 or 19) ||
                     (b[0] == 198 && b[1] == 51 && b[2] == 100) ||
                     (b[0] == 203 && b[1] == 0 && b[2] == 113));
        }

        return address.AddressFamily == AddressFamily.InterNetworkV6 &&
               // Only global unicast (2000::/3); of that, not the prefixes that carry an IPv4 address
               // inside (6to4 2002::/16, Teredo 2001::/32) and so could reach a private one through a
               // gateway. NAT64 (64:ff9b::/96) and IPv4-compatible (::a.b.c.d) fall outside 2000::/3.
               (b[0] & 0xE0) == 0x20 &&
               !(b[0] == 0x20 && b[1] == 0x02) &&
               !(b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x00) &&
               !address.Equals(IPAddress.IPv6Any) &&
               !address.IsIPv6LinkLocal && !address.IsIPv6SiteLocal && !address.IsIPv6Multicast &&
               (b[0] & 0xFE) != 0xFC && // unique local fc00::/7
               !(b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0D && b[3] == 0xB8); // documentation 2001:db8::/32
    }

    private static async ValueTask<Stream> ConnectToPublicAddressAsync(SocketsHttpConnectionContext context, CancellationToken ct)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);
        var allowed = addresses.Where(IsPublic).ToArray();
        if (allowed.Length == 0)
        {
            throw new HttpRequestException($"refused: {host} is not a public address; webhooks are sent only to receivers on the internet.");
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(allowed, context.DnsEndPoint.Port, ct);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
