using System.Text.Json;
using UltraRepo.Domain.Common;
using UltraRepo.Domain.Registry;

namespace UltraRepo.Domain.Tests.Registry;

public class ServerJsonValidatorTests
{
    private const string Sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    private static readonly ServerJson Minimal = new()
    {
        Name = "io.github.alice/weather",
        Description = "Weather forecasts for MCP clients",
        Version = "1.0.0",
    };

    private static readonly Package StdioPackage = new()
    {
        RegistryType = "npm",
        Identifier = "@alice/weather-mcp",
        Version = "1.0.0",
        Transport = new Transport { Type = "stdio" },
    };

    private static List<FieldError> Validate(ServerJson server, bool allowNonPublicRemotes = false) =>
        ServerJsonValidator.Validate(server, allowNonPublicRemotes);

    private static FieldError SingleError(ServerJson server, bool allowNonPublicRemotes = false) =>
        Assert.Single(Validate(server, allowNonPublicRemotes));

    private static ServerJson WithPackage(Package package) => Minimal with { Packages = [package] };

    private static ServerJson WithRemote(string type, string url, Dictionary<string, Argument>? variables = null) =>
        Minimal with { Remotes = [new Transport { Type = type, Url = url, Variables = variables }] };

    [Fact]
    public void Validate_MinimalServer_HasNoErrors() => Assert.Empty(Validate(Minimal));

    [Fact]
    public void Validate_CompleteServerUsingEveryOptionalField_HasNoErrors()
    {
        var server = ServerJsonSerializer.Deserialize($$"""
        {
          "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
          "name": "io.github.alice/weather",
          "title": "Weather",
          "description": "Weather forecasts",
          "version": "2.1.0-rc.1",
          "repository": { "url": "https://github.com/alice/weather-mcp", "source": "github", "subfolder": "servers/weather" },
          "websiteUrl": "https://weather.example.com/docs",
          "icons": [{ "src": "https://weather.example.com/icon.png", "mimeType": "image/png", "sizes": ["48x48", "any"], "theme": "dark" }],
          "packages": [
            {
              "registryType": "npm", "identifier": "@alice/weather-mcp", "version": "2.1.0-rc.1", "transport": { "type": "stdio" },
              "runtimeArguments": [{ "type": "named", "name": "--max-old-space-size", "value": "512" }],
              "packageArguments": [{ "type": "positional", "valueHint": "config_path", "format": "filepath" }],
              "environmentVariables": [{ "name": "WEATHER_API_KEY", "isSecret": true }]
            },
            {
              "registryType": "oci", "identifier": "ghcr.io/alice/weather", "fileSha256": "{{Sha}}",
              "transport": { "type": "streamable-http", "url": "http://localhost:{port}/mcp" },
              "packageArguments": [{ "type": "named", "name": "--port", "value": "8080" }]
            }
          ],
          "remotes": [
            { "type": "streamable-http", "url": "https://{tenant}.weather.example.com/mcp", "variables": { "tenant": { "isRequired": true } } },
            { "type": "sse", "url": "https://weather.example.com/sse", "headers": [{ "name": "Authorization", "isSecret": true }] }
          ],
          "_meta": { "io.modelcontextprotocol.registry/publisher-provided": { "tool": "publisher-cli", "build": 42 } }
        }
        """);

        Assert.Empty(Validate(server));
    }

    [Fact]
    public void Validate_SeveralProblems_ReportsEveryOneWithItsLocation()
    {
        var server = new ServerJson
        {
            Name = "weather",
            Version = "latest",
            WebsiteUrl = "http://weather.example.com",
            Packages = [StdioPackage, StdioPackage with { Version = "^1.0.0" }],
            Remotes = [new Transport { Type = "sse", Url = "https://weather.example.com/sse" }, new Transport { Type = "sse", Url = "http://10.0.0.5/sse" }],
        };

        var locations = Validate(server).Select(e => e.Location).ToList();

        Assert.Equal(
            ["body.name", "body.description", "body.version", "body.websiteUrl", "body.packages[1].version", "body.remotes[1].url"],
            locations);
    }

    [Theory]
    [InlineData("ab/cd")]
    [InlineData("io.github.alice/weather")]
    [InlineData("com.example-corp/my_server.v2-beta")]
    [InlineData("A1/B2")]
    public void Validate_WellFormedName_IsAccepted(string name) => Assert.Empty(Validate(Minimal with { Name = name }));

    [Fact]
    public void Validate_NameOf200Characters_IsAcceptedAnd201IsNot()
    {
        var name200 = "io.example/" + new string('a', 189);

        Assert.Empty(Validate(Minimal with { Name = name200 }));
        var error = SingleError(Minimal with { Name = name200 + "a" });
        Assert.Equal(("body.name", "expected length <= 200"), (error.Location, error.Message));
    }

    [Theory]
    [InlineData(null, "server name is required and must be a string")]
    [InlineData("", "server name is required and must be a string")]
    [InlineData("a/", "expected length >= 3")]
    [InlineData("weather", "server name must be in format 'dns-namespace/name' (e.g., 'com.example.api/server')")]
    [InlineData("io.github/alice/weather", "server name cannot contain multiple slashes")]
    [InlineData("/weather", "with non-empty namespace and name parts")]
    [InlineData("io.github.alice/", "with non-empty namespace and name parts")]
    [InlineData("a/weather", "namespace 'a' is invalid")]
    [InlineData("-io.github/weather", "namespace '-io.github' is invalid")]
    [InlineData("io.github./weather", "namespace 'io.github.' is invalid")]
    [InlineData("io_github/weather", "namespace 'io_github' is invalid")]
    [InlineData("io.github.alice/w", "name 'w' is invalid")]
    [InlineData("io.github.alice/weather-", "name 'weather-' is invalid")]
    [InlineData("io.github.alice/_weather", "name '_weather' is invalid")]
    public void Validate_MalformedName_ReportsWhyAtBodyName(string? name, string expected)
    {
        var error = SingleError(Minimal with { Name = name });

        Assert.Equal("body.name", error.Location);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("io.github.alice/my weather", "name 'my weather' is invalid")]
    [InlineData("io.github.alice/weather@2", "name 'weather@2' is invalid")]
    public void Validate_BadCharacterInNamePart_BlamesTheNamePart(string name, string expected)
    {
        var error = SingleError(Minimal with { Name = name });

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_MissingDescription_ReportsRequired()
    {
        var error = SingleError(Minimal with { Description = null });

        Assert.Equal(("body.description", "expected required property description to be present"), (error.Location, error.Message));
    }

    [Theory]
    [InlineData("body.description", "", "expected length >= 1")]
    [InlineData("body.description", "   ", "description cannot be only whitespace")]
    [InlineData("body.title", "", "expected length >= 1")]
    [InlineData("body.title", " \t", "title cannot be only whitespace")]
    public void Validate_BlankText_ReportsWhy(string location, string value, string expected)
    {
        var server = location == "body.title" ? Minimal with { Title = value } : Minimal with { Description = value };

        var error = SingleError(server);

        Assert.Equal((location, expected), (error.Location, error.Message));
    }

    [Theory]
    [InlineData("a", 100, true)]
    [InlineData("a", 101, false)]
    [InlineData("\U0001F326", 100, true)] // 200 UTF-16 units, 100 runes
    [InlineData("\U0001F326", 101, false)]
    [InlineData("é", 100, true)]
    public void Validate_DescriptionLength_CountsRunesUpTo100(string unit, int count, bool accepted)
    {
        var errors = Validate(Minimal with { Description = string.Concat(Enumerable.Repeat(unit, count)) });

        if (accepted)
        {
            Assert.Empty(errors);
        }
        else
        {
            Assert.Equal(("body.description", "expected length <= 100"), (Assert.Single(errors).Location, errors[0].Message));
        }
    }

    [Fact]
    public void Validate_TitleLongerThan100Runes_ReportsTooLong()
    {
        Assert.Empty(Validate(Minimal with { Title = new string('t', 100) }));
        var error = SingleError(Minimal with { Title = new string('t', 101) });

        Assert.Equal(("body.title", "expected length <= 100"), (error.Location, error.Message));
    }

    [Theory]
    [InlineData("latest", "version string 'latest' is reserved and cannot be used")]
    [InlineData("^1.0.0", "version must be a specific version, not a range: \"^1.0.0\"")]
    [InlineData("1.2.*", "version must be a specific version, not a range: \"1.2.*\"")]
    [InlineData("1.0 - 2.0", "version must be a specific version, not a range: \"1.0 - 2.0\"")]
    [InlineData("", "expected length >= 1")]
    [InlineData("  ", "expected length >= 1")]
    public void Validate_UnpublishableVersion_ReportsWhyAtBodyVersion(string version, string expected)
    {
        var error = SingleError(Minimal with { Version = version });

        Assert.Equal(("body.version", expected), (error.Location, error.Message));
    }

    [Fact]
    public void Validate_MissingVersion_ReportsRequired()
    {
        var error = SingleError(Minimal with { Version = null });

        Assert.Equal(("body.version", "expected required property version to be present"), (error.Location, error.Message));
    }

    [Fact]
    public void Validate_VersionLongerThan255_ReportsTooLong()
    {
        Assert.Empty(Validate(Minimal with { Version = "1.0.0-" + new string('a', 249) }));
        var error = SingleError(Minimal with { Version = "1.0.0-" + new string('a', 250) });

        Assert.Equal(("body.version", "expected length <= 255"), (error.Location, error.Message));
    }

    [Fact]
    public void Validate_PackageVersion_IsOptionalButChecked()
    {
        Assert.Empty(Validate(WithPackage(StdioPackage with { Version = null })));

        var error = SingleError(WithPackage(StdioPackage with { Version = "latest" }));

        Assert.Equal(("body.packages[0].version", "version string 'latest' is reserved and cannot be used"), (error.Location, error.Message));
    }

    [Theory]
    [InlineData("github", "https://github.com/alice/weather")]
    [InlineData("github", "http://www.github.com/alice/weather.mcp/")]
    [InlineData("gitlab", "https://gitlab.com/group/project")]
    [InlineData("gitlab", "https://gitlab.com/group/subgroup/project")]
    public void Validate_RepositoryMatchingItsSource_IsAccepted(string source, string url) =>
        Assert.Empty(Validate(Minimal with { Repository = new Repository { Source = source, Url = url } }));

    [Theory]
    [InlineData("github", "https://github.com/alice")]
    [InlineData("github", "https://github.com/alice/weather/tree/main")]
    [InlineData("github", "https://gitlab.com/alice/weather")]
    [InlineData("gitlab", "https://gitlab.com/group")]
    [InlineData("bitbucket", "https://bitbucket.org/alice/weather")]
    [InlineData(null, "https://github.com/alice/weather")]
    [InlineData("github", null)]
    public void Validate_RepositoryNotMatchingItsSource_ReportsUrl(string? source, string? url)
    {
        var error = SingleError(Minimal with { Repository = new Repository { Source = source, Url = url } });

        Assert.Equal("body.repository.url", error.Location);
        Assert.StartsWith("invalid repository URL: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_EmptyRepository_IsIgnored() =>
        Assert.Empty(Validate(Minimal with { Repository = new Repository { Id = "123" } }));

    [Theory]
    [InlineData("servers/weather", true)]
    [InlineData("a.b_c-d", true)]
    [InlineData("/servers", false)]
    [InlineData("servers/", false)]
    [InlineData("servers//weather", false)]
    [InlineData("../weather", false)]
    [InlineData("servers/./weather", false)]
    [InlineData("my servers", false)]
    [InlineData("servers\\weather", false)]
    public void Validate_RepositorySubfolder_MustBeACleanRelativePath(string subfolder, bool accepted)
    {
        var repository = new Repository { Source = "github", Url = "https://github.com/alice/weather", Subfolder = subfolder };

        var errors = Validate(Minimal with { Repository = repository });

        Assert.Equal(accepted ? [] : ["body.repository.subfolder"], errors.Select(e => e.Location));
    }

    [Theory]
    [InlineData("https://weather.example.com", null)]
    [InlineData("http://weather.example.com", "websiteUrl must use https scheme: http://weather.example.com")]
    [InlineData("ftp://weather.example.com", "websiteUrl must use https scheme: ftp://weather.example.com")]
    [InlineData("weather.example.com", "websiteUrl must be absolute (include scheme): weather.example.com")]
    public void Validate_WebsiteUrl_MustBeAbsoluteHttps(string url, string? expected)
    {
        var errors = Validate(Minimal with { WebsiteUrl = url });

        Assert.Equal(expected is null ? [] : [("body.websiteUrl", expected)], errors.Select(e => (e.Location, e.Message)));
    }

    [Fact]
    public void Validate_BadIcons_ReportEachFieldWithItsIndex()
    {
        List<Icon> icons =
        [
            new() { Src = "https://weather.example.com/ok.svg", MimeType = "image/svg+xml", Sizes = ["any"], Theme = "light" },
            new() { Src = null },
            new() { Src = "http://weather.example.com/icon.png", MimeType = "image/gif", Sizes = ["48x48", "large"], Theme = "blue" },
            new() { Src = "https://weather.example.com/" + new string('i', 240) },
        ];

        var errors = Validate(Minimal with { Icons = icons });

        Assert.Equal(
            [
                ("body.icons[1]", "expected required property src to be present"),
                ("body.icons[2].src", "icon src must use https scheme: http://weather.example.com/icon.png"),
                ("body.icons[2].mimeType", "expected value to be one of \"image/png, image/jpeg, image/jpg, image/svg+xml, image/webp\""),
                ("body.icons[2].sizes[1]", @"expected string to match pattern ^(\d+x\d+|any)$"),
                ("body.icons[2].theme", "expected value to be one of \"light, dark\""),
                ("body.icons[3].src", "expected length <= 255"),
            ],
            errors.Select(e => (e.Location, e.Message)));
    }

    [Fact]
    public void Validate_EmptyPackage_ReportsEachRequiredField()
    {
        var errors = Validate(WithPackage(new Package()));

        Assert.Equal(
            ["body.packages[0].registryType", "body.packages[0].identifier", "body.packages[0].transport"],
            errors.Select(e => e.Location));
    }

    [Fact]
    public void Validate_PackageIdentifierWithSpace_IsRefused()
    {
        var error = SingleError(WithPackage(StdioPackage with { Identifier = "weather mcp" }));

        Assert.Equal(("body.packages[0].identifier", "package name cannot contain spaces"), (error.Location, error.Message));
    }

    [Fact]
    public void Validate_RelativeRegistryBaseUrl_IsRefused()
    {
        Assert.Empty(Validate(WithPackage(StdioPackage with { RegistryBaseUrl = "https://registry.npmjs.org" })));

        var error = SingleError(WithPackage(StdioPackage with { RegistryBaseUrl = "registry.npmjs.org" }));

        Assert.Equal("body.packages[0].registryBaseUrl", error.Location);
    }

    [Theory]
    [InlineData(Sha, true)]
    [InlineData("9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08", false)]
    [InlineData("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0", false)]
    [InlineData(Sha + "0", false)]
    [InlineData("gf86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", false)]
    [InlineData("", false)]
    public void Validate_FileSha256_MustBe64LowercaseHexDigits(string sha, bool accepted)
    {
        var errors = Validate(WithPackage(StdioPackage with { FileSha256 = sha }));

        Assert.Equal(accepted ? [] : ["body.packages[0].fileSha256"], errors.Select(e => e.Location));
    }

    [Theory]
    [InlineData("stdio", "http://localhost:3000/mcp", "body.packages[0].transport.url", "url must be empty for stdio transport type, got: http://localhost:3000/mcp")]
    [InlineData("sse", null, "body.packages[0].transport.url", "url is required for sse transport type")]
    [InlineData("streamable-http", "", "body.packages[0].transport.url", "url is required for streamable-http transport type")]
    [InlineData("websocket", "ws://localhost/mcp", "body.packages[0].transport.type", "unsupported transport type: websocket")]
    [InlineData("streamable-http", "not a url", "body.packages[0].transport.url", "invalid package transport URL: not a url")]
    [InlineData(null, null, "body.packages[0].transport", "expected required property type to be present")]
    public void Validate_BadPackageTransport_ReportsWhy(string? type, string? url, string location, string expected)
    {
        var error = SingleError(WithPackage(StdioPackage with { Transport = new Transport { Type = type, Url = url } }));

        Assert.Equal((location, expected), (error.Location, error.Message));
    }

    [Fact]
    public void Validate_PackageTransportTemplateVariable_MustBeAnArgumentOrEnvironmentVariable()
    {
        var package = StdioPackage with { Transport = new Transport { Type = "streamable-http", Url = "http://{host}:8080/mcp" } };

        var error = SingleError(WithPackage(package));
        Assert.Equal("body.packages[0].transport.url", error.Location);
        Assert.Contains("reference undefined variables", error.Message, StringComparison.Ordinal);

        Assert.Empty(Validate(WithPackage(package with { EnvironmentVariables = [new Argument { Name = "host" }] })));
        Assert.Empty(Validate(WithPackage(package with { RuntimeArguments = [new Argument { Type = "positional", ValueHint = "host" }] })));
        Assert.Empty(Validate(WithPackage(package with { PackageArguments = [new Argument { Type = "named", Name = "--host" }] })));
    }

    [Fact]
    public void Validate_PortTemplateVariableWithAnyName_IsAccepted()
    {
        var package = StdioPackage with
        {
            Transport = new Transport { Type = "streamable-http", Url = "http://localhost:{PORT}/mcp" },
            EnvironmentVariables = [new Argument { Name = "PORT" }],
        };

        Assert.Empty(Validate(WithPackage(package)));
    }

    [Fact]
    public void Validate_PackageTransportOnLocalhost_IsAllowedEvenWhenRemotesMustBePublic() =>
        Assert.Empty(Validate(WithPackage(StdioPackage with { Transport = new Transport { Type = "sse", Url = "http://127.0.0.1:9000/sse" } })));

    [Fact]
    public void Validate_BadArguments_ReportEachWithItsLocation()
    {
        var package = StdioPackage with
        {
            RuntimeArguments =
            [
                new() { Type = "flag", Name = "-v" },
                new() { Type = "named" },
                new() { Type = "named", Name = "--dir <path>" },
            ],
            PackageArguments =
            [
                new() { Type = "named", Name = "--port", Value = "--port=8080" },
                new() { Type = "positional" },
                new() { Type = "positional", Value = "serve", Format = "integer" },
            ],
            EnvironmentVariables = [new() { Name = "API_KEY" }, new() { Description = "no name" }],
        };

        var errors = Validate(WithPackage(package));

        Assert.Equal(
            [
                ("body.packages[0].runtimeArguments[0].type", "expected value to be one of \"positional, named\""),
                ("body.packages[0].runtimeArguments[1].name", "named argument name is required"),
                ("body.packages[0].runtimeArguments[2].name", "invalid named argument name format: --dir <path>"),
                ("body.packages[0].packageArguments[0].value", "argument value cannot start with the argument name: value starts with argument name '--port': --port=8080"),
                ("body.packages[0].packageArguments[1]", "a positional argument needs a valueHint or a value"),
                ("body.packages[0].packageArguments[2].format", "expected value to be one of \"string, number, boolean, filepath\""),
                ("body.packages[0].environmentVariables[1]", "expected required property name to be present"),
            ],
            errors.Select(e => (e.Location, e.Message)));
    }

    [Theory]
    [InlineData("stdio", "https://weather.example.com/mcp", "body.remotes[0].type", "unsupported transport type for remotes: stdio (only streamable-http and sse are supported)")]
    [InlineData("sse", "", "body.remotes[0].url", "url is required for sse transport type")]
    [InlineData("sse", "ftp://weather.example.com/sse", "body.remotes[0].url", "invalid remote URL: ftp://weather.example.com/sse (must be an absolute http or https URL)")]
    [InlineData("streamable-http", "/mcp", "body.remotes[0].url", "invalid remote URL: /mcp (must be an absolute http or https URL)")]
    [InlineData("streamable-http", "https://{tenant}.example.com/mcp", "body.remotes[0].url", "invalid remote URL: template variables in URL https://{tenant}.example.com/mcp reference undefined variables. Available variables: []")]
    public void Validate_BadRemote_ReportsWhy(string type, string url, string location, string expected)
    {
        var error = SingleError(WithRemote(type, url));

        Assert.Equal((location, expected), (error.Location, error.Message));
    }

    [Theory]
    [InlineData("http://localhost:8080/mcp")]
    [InlineData("https://mcp.localhost/mcp")]
    [InlineData("http://127.0.0.1/mcp")]
    [InlineData("http://10.1.2.3/mcp")]
    [InlineData("http://192.168.1.20:3000/mcp")]
    [InlineData("http://169.254.169.254/latest/meta-data")]
    [InlineData("http://[::1]:8080/mcp")]
    [InlineData("http://[fd00:ec2::254]/mcp")]
    [InlineData("http://[::ffff:127.0.0.1]/mcp")]
    [InlineData("http://2130706433/mcp")]
    [InlineData("http://127.0.0.1:{port}/mcp")]
    public void Validate_RemoteOnNonPublicHost_IsRefusedUnlessAllowed(string url)
    {
        var variables = url.Contains("{port}", StringComparison.Ordinal) ? new Dictionary<string, Argument> { ["port"] = new() } : null;
        var server = WithRemote("streamable-http", url, variables);

        var error = SingleError(server);

        Assert.Equal("body.remotes[0].url", error.Location);
        Assert.EndsWith("(loopback, private and link-local hosts are not allowed)", error.Message, StringComparison.Ordinal);
        Assert.Empty(Validate(server, allowNonPublicRemotes: true));
    }

    [Theory]
    [InlineData("https://weather.example.com/mcp")]
    [InlineData("http://8.8.8.8/mcp")]
    [InlineData("https://[2606:4700::1111]/mcp")]
    [InlineData("https://localhost.example.com/mcp")]
    public void Validate_RemoteOnPublicHost_IsAccepted(string url) => Assert.Empty(Validate(WithRemote("sse", url)));

    [Fact]
    public void Validate_RemoteErrors_CarryTheRemoteIndex()
    {
        var server = Minimal with
        {
            Remotes =
            [
                new Transport { Type = "sse", Url = "https://weather.example.com/sse" },
                new Transport { Type = "sse", Url = "https://weather.example.com/{region}/sse" },
                new Transport { Type = "sse", Url = "https://weather.example.com/{region}/sse", Variables = new() { ["region"] = new() } },
            ],
        };

        Assert.Equal(["body.remotes[1].url"], Validate(server).Select(e => e.Location));
    }

    [Theory]
    [InlineData("https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json", true)]
    [InlineData("https://static.modelcontextprotocol.io/schemas/draft/server.schema.json", true)]
    [InlineData("", true)]
    [InlineData("http://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json", false)]
    [InlineData("https://example.com/schemas/2025-12-11/server.schema.json", false)]
    [InlineData("https://static.modelcontextprotocol.io/schemas/2025-12-11/other.json", false)]
    public void Validate_Schema_MustNameAPublishedServerSchema(string schema, bool accepted)
    {
        var errors = Validate(Minimal with { Schema = schema });

        Assert.Equal(accepted ? [] : ["body.$schema"], errors.Select(e => e.Location));
    }

    private static Dictionary<string, JsonElement> PublisherMeta(string json) =>
        new() { [ServerJsonSerializer.PublisherProvidedKey] = JsonDocument.Parse(json).RootElement.Clone() };

    [Fact]
    public void Validate_PublisherMetaUpTo4096Bytes_IsAcceptedAndLargerIsRefused()
    {
        // {"k":"…"} is 8 bytes of framing around the string.
        Assert.Empty(Validate(Minimal with { Meta = PublisherMeta($$"""{"k":"{{new string('x', 4088)}}"}""") }));

        var error = SingleError(Minimal with { Meta = PublisherMeta($$"""{"k":"{{new string('x', 4089)}}"}""") });

        Assert.Equal("body._meta.io.modelcontextprotocol.registry/publisher-provided", error.Location);
        Assert.Equal("_meta.io.modelcontextprotocol.registry/publisher-provided extension exceeds 4KB limit (4097 bytes)", error.Message);
    }

    [Fact]
    public void Validate_PublisherMetaSize_IgnoresInsignificantWhitespace()
    {
        var indented = "{\n" + string.Join(",\n", Enumerable.Range(0, 300).Select(i => $"        \"k{i:000}\": {i}")) + "\n}";

        Assert.True(indented.Length > 4096);
        Assert.Empty(Validate(Minimal with { Meta = PublisherMeta(indented) }));
    }

    [Fact]
    public void Validate_PublisherMetaWithNonAsciiText_IsMeasuredInUtf8Bytes() =>
        Assert.Empty(Validate(Minimal with { Meta = PublisherMeta($$"""{"k":"{{new string('é', 1500)}}"}""") }));

    [Fact]
    public void Validate_PublisherMetaThatIsNotAnObject_IsRefused()
    {
        var error = SingleError(Minimal with { Meta = PublisherMeta("[1, 2]") });

        Assert.Equal(("body._meta.io.modelcontextprotocol.registry/publisher-provided", "expected object"), (error.Location, error.Message));
    }

    [Fact]
    public void Validate_OtherMetaKeys_AreNotValidated() =>
        Assert.Empty(Validate(Minimal with { Meta = new() { ["com.example/huge"] = JsonDocument.Parse($"\"{new string('x', 10_000)}\"").RootElement } }));

    [Fact]
    public void Normalize_KeepsOnlyThePublisherProvidedMeta()
    {
        var meta = PublisherMeta("""{"tool":"cli"}""");
        meta[ServerJsonSerializer.OfficialMetaKey] = JsonDocument.Parse("""{"status":"active"}""").RootElement;
        meta["com.example/other"] = JsonDocument.Parse("1").RootElement;

        var normalized = ServerJsonValidator.Normalize(Minimal with { Meta = meta });

        var kept = Assert.Single(normalized.Meta!);
        Assert.Equal(ServerJsonSerializer.PublisherProvidedKey, kept.Key);
        Assert.Equal("cli", kept.Value.GetProperty("tool").GetString());
    }

    [Fact]
    public void Normalize_WithoutPublisherProvidedMeta_DropsMetaEntirely()
    {
        var meta = new Dictionary<string, JsonElement> { [ServerJsonSerializer.OfficialMetaKey] = JsonDocument.Parse("{}").RootElement };

        Assert.Null(ServerJsonValidator.Normalize(Minimal with { Meta = meta }).Meta);
    }

    [Theory]
    [InlineData(null, ServerJsonSerializer.CurrentSchema)]
    [InlineData(" ", ServerJsonSerializer.CurrentSchema)]
    [InlineData("https://static.modelcontextprotocol.io/schemas/2025-09-29/server.schema.json", "https://static.modelcontextprotocol.io/schemas/2025-09-29/server.schema.json")]
    public void Normalize_FillsInTheCurrentSchemaOnlyWhenAbsent(string? schema, string expected) =>
        Assert.Equal(expected, ServerJsonValidator.Normalize(Minimal with { Schema = schema }).Schema);

    [Fact]
    public void Deserialize_IsCaseInsensitiveAndDropsUnknownFields()
    {
        var server = ServerJsonSerializer.Deserialize("""{"NAME":"io.github.alice/weather","description":"d","version":"1.0.0","status":"active"}""");

        Assert.Equal("io.github.alice/weather", server.Name);
        Assert.DoesNotContain("status", ServerJsonSerializer.Serialize(server), StringComparison.Ordinal);
        Assert.Equal("io.github.alice", server.Namespace);
    }

    [Fact]
    public void Deserialize_JsonNull_Throws() => Assert.Throws<JsonException>(() => ServerJsonSerializer.Deserialize("null"));
}
