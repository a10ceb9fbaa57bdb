using SendWorkflows.Storage;

namespace SendWorkflows.Tests.Storage;

public sealed class PostgresSettingsTests
{
    [Fact]
    public void what_the_connection_string_leaves_unsaid_gets_the_stores_defaults()
    {
        var settings = PostgresStore.Settings("Host=db.example.org;Database=sendworkflows;Username=app");

        Assert.Equal(64, settings.MaxAutoPrepare);
        Assert.Equal(64 * 1024, settings.ReadBufferSize);
        Assert.Equal(64 * 1024, settings.WriteBufferSize);
        Assert.Equal("db.example.org", settings.Host);
        Assert.Equal("sendworkflows", settings.Database);
    }

    [Theory]
    [InlineData("Host=h;Max Auto Prepare=0;Read Buffer Size=16384;Write Buffer Size=32768")]
    [InlineData("Host=h;maxautoprepare=0;READBUFFERSIZE=16384;WriteBufferSize=32768")]
    public void a_setting_the_connection_string_gives_is_kept_however_it_is_spelt(string connectionString)
    {
        var settings = PostgresStore.Settings(connectionString);

        Assert.Equal(0, settings.MaxAutoPrepare);
        Assert.Equal(16384, settings.ReadBufferSize);
        Assert.Equal(32768, settings.WriteBufferSize);
    }
}
