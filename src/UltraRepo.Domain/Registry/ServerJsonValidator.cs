using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using UltraRepo.Domain.Common;

namespace UltraRepo.Domain.Registry;

/// <summary>
/// Validates a server.json the way the official registry does (schema constraints and its semantic
/// checks), but reports every problem with its location instead of a generic "invalid schema".
/// </summary>
public static partial class ServerJsonValidator
{
    public const int MaxPublisherMetaBytes = 4096;

    /// <summary>Longest remote, transport or website URL accepted (the common browser and proxy limit).</summary>
    public const int MaxUrlLength = 2048;

    [GeneratedRegex("^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+\\z")]
    private static partial Regex NameShape();

    [GeneratedRegex("^[a-zA-Z0-9][a-zA-Z0-9.-]*[a-zA-Z0-9]\\z")]
    private static partial Regex NamespacePart();

    [GeneratedRegex("^[a-zA-Z0-9][a-zA-Z0-9._-]*[a-zA-Z0-9]\\z")]
    private static partial Regex NamePart();

    [GeneratedRegex(@"^https?://(www\.)?github\.com/[\w.-]+/[\w.-]+/?\z")]
    private static partial Regex GitHubRepo();

    [GeneratedRegex(@"^https?://(www\.)?gitlab\.com/[\w.-]+(/[\w.-]+)+/?\z")]
    private static partial Regex GitLabRepo();

    [GeneratedRegex("^[a-f0-9]{64}\\z")]
    private static partial Regex Sha256();

    [GeneratedRegex(@"^(\d+x\d+|any)\z")]
    private static partial Regex IconSize();

    [GeneratedRegex(@"\{([^}]+)\}")]
    private static partial Regex TemplateVariable();

    [GeneratedRegex(@"^https://static\.modelcontextprotocol\.io/schemas/[A-Za-z0-9_~.-]+/server\.schema\.json\z")]
    private static partial Regex SchemaUrl();

    private static readonly string[] IconMimeTypes = ["image/png", "image/jpeg", "image/jpg", "image/svg+xml", "image/webp"];
    private static readonly string[] InputFormats = ["string", "number", "boolean", "filepath"];

    public static List<FieldError> Validate(ServerJson server, bool allowNonPublicRemotes)
    {
        var errors = new List<FieldError>();
        ValidateSchemaField(server.Schema, errors);
        ValidateName(server.Name, errors);
        ValidateText("body.description", server.Description, required: true, max: 100, errors);
        ValidateText("body.title", server.Title, required: false, max: 100, errors);
        ValidateVersion("body.version", server.Version, required: true, errors, addressable: true);
        ValidateRepository(server.Repository, errors);
        ValidateHttpsUrl("body.websiteUrl", server.WebsiteUrl, "websiteUrl", errors);
        ValidateIcons(server.Icons, errors);
        for (var i = 0; i < (server.Packages?.Count ?? 0); i++)
        {
            if (Present($"body.packages[{i}]", server.Packages![i], errors) is { } package)
            {
                ValidatePackage($"body.packages[{i}]", package, errors);
            }
        }

        for (var i = 0; i < (server.Remotes?.Count ?? 0); i++)
        {
            if (Present($"body.remotes[{i}]", server.Remotes![i], errors) is { } remote)
            {
                ValidateRemote($"body.remotes[{i}]", remote, allowNonPublicRemotes, errors);
            }
        }

        ValidatePublisherMeta(server.Meta, errors);
        return errors;
    }

    // JSON arrays may hold null even where the model's element type is not nullable.
    private static T? Present<T>(string at, T? item, List<FieldError> errors) where T : class
    {
        if (item is null)
        {
            errors.Add(new(at, "expected object, got null"));
        }

        return item;
    }

    /// <summary>Keeps only the publisher-provided extension; registries own every other <c>_meta</c> key.</summary>
    public static ServerJson Normalize(ServerJson server)
    {
        Dictionary<string, JsonElement>? meta = null;
        if (server.Meta is not null && server.Meta.TryGetValue(ServerJsonSerializer.PublisherProvidedKey, out var provided))
        {
            meta = new() { [ServerJsonSerializer.PublisherProvidedKey] = provided };
        }

        return server with { Meta = meta, Schema = string.IsNullOrWhiteSpace(server.Schema) ? ServerJsonSerializer.CurrentSchema : server.Schema };
    }

    private static void ValidateSchemaField(string? schema, List<FieldError> errors)
    {
        // Absent $schema is filled in with the current one; a present one must name a published schema.
        if (!string.IsNullOrEmpty(schema) && !SchemaUrl().IsMatch(schema))
        {
            errors.Add(new("body.$schema", "$schema must be a server.schema.json URL under https://static.modelcontextprotocol.io/schemas/", schema));
        }
    }

    private static void ValidateName(string? name, List<FieldError> errors)
    {
        const string at = "body.name";
        if (string.IsNullOrEmpty(name))
        {
            errors.Add(new(at, "server name is required and must be a string"));
            return;
        }

        if (name.Length is < 3 or > 200)
        {
            errors.Add(new(at, name.Length < 3 ? "expected length >= 3" : "expected length <= 200", name));
            return;
        }

        var slashes = name.Count(c => c == '/');
        if (slashes == 0)
        {
            errors.Add(new(at, "server name must be in format 'dns-namespace/name' (e.g., 'com.example.api/server')", name));
            return;
        }

        if (slashes > 1)
        {
            errors.Add(new(at, "server name cannot contain multiple slashes", name));
            return;
        }

        var parts = name.Split('/');
        if (parts[0].Length == 0 || parts[1].Length == 0)
        {
            errors.Add(new(at, "server name must be in format 'dns-namespace/name' with non-empty namespace and name parts", name));
        }
        else if (!NamespacePart().IsMatch(parts[0]))
        {
            errors.Add(new(at, $"server name format is invalid: namespace '{parts[0]}' is invalid. Namespace must start and end with alphanumeric characters, and may contain dots and hyphens in the middle", name));
        }
        else if (!NamePart().IsMatch(parts[1]) || !NameShape().IsMatch(name))
        {
            errors.Add(new(at, $"server name format is invalid: name '{parts[1]}' is invalid. Name must start and end with alphanumeric characters, and may contain dots, underscores, and hyphens in the middle", name));
        }
    }

    private static void ValidateText(string at, string? value, bool required, int max, List<FieldError> errors)
    {
        if (value is null)
        {
            if (required)
            {
                errors.Add(new(at, $"expected required property {at[(at.LastIndexOf('.') + 1)..]} to be present"));
            }

            return;
        }

        var length = value.EnumerateRunes().Count();
        if (length < 1)
        {
            errors.Add(new(at, "expected length >= 1", value));
        }
        else if (length > max)
        {
            errors.Add(new(at, $"expected length <= {max}", value));
        }
        else if (string.IsNullOrWhiteSpace(value))
        {
            errors.Add(new(at, $"{at[(at.LastIndexOf('.') + 1)..]} cannot be only whitespace", value));
        }
    }

    private static void ValidateVersion(string at, string? version, bool required, List<FieldError> errors, bool addressable = false)
    {
        if (version is null)
        {
            if (required)
            {
                errors.Add(new(at, "expected required property version to be present"));
            }

            return;
        }

        if (string.IsNullOrWhiteSpace(version))
        {
            errors.Add(new(at, "expected length >= 1", version));
        }
        else if (version.Length > 255)
        {
            errors.Add(new(at, "expected length <= 255", version));
        }
        else if (VersionRules.Check(version) is { } problem)
        {
            errors.Add(new(at, problem, version));
        }
        else if (addressable && VersionRules.CheckAddressable(version) is { } unaddressable)
        {
            errors.Add(new(at, unaddressable, version));
        }
    }

    private static void ValidateRepository(Repository? repository, List<FieldError> errors)
    {
        if (repository is null || (string.IsNullOrEmpty(repository.Url) && string.IsNullOrEmpty(repository.Source)))
        {
            return;
        }

        var valid = repository.Source switch
        {
            "github" => repository.Url is not null && GitHubRepo().IsMatch(repository.Url),
            "gitlab" => repository.Url is not null && GitLabRepo().IsMatch(repository.Url),
            _ => false,
        };
        if (!valid)
        {
            errors.Add(new("body.repository.url", $"invalid repository URL: {repository.Url} (source must be github or gitlab with a matching project URL)", repository.Url));
        }

        var sub = repository.Subfolder;
        if (!string.IsNullOrEmpty(sub)
            && (sub.StartsWith('/') || sub.EndsWith('/') || !sub.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/')
                || sub.Split('/').Any(s => s is "" or "." or "..")))
        {
            errors.Add(new("body.repository.subfolder", $"invalid subfolder path: {sub}", sub));
        }
    }

    private static void ValidateHttpsUrl(string at, string? url, string label, List<FieldError> errors)
    {
        if (url is null)
        {
            return;
        }

        if (url.Length > MaxUrlLength)
        {
            errors.Add(new(at, $"expected length <= {MaxUrlLength}"));
        }
        else if (!Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            errors.Add(new(at, $"{label} must be absolute (include scheme): {url}", url));
        }
        else if (uri.Scheme != Uri.UriSchemeHttps)
        {
            errors.Add(new(at, $"{label} must use https scheme: {url}", url));
        }
    }

    private static void ValidateIcons(List<Icon>? icons, List<FieldError> errors)
    {
        for (var i = 0; i < (icons?.Count ?? 0); i++)
        {
            var at = $"body.icons[{i}]";
            if (Present(at, icons![i], errors) is not { } icon)
            {
                continue;
            }

            if (string.IsNullOrEmpty(icon.Src))
            {
                errors.Add(new(at, "expected required property src to be present"));
            }
            else if (icon.Src.Length > 255)
            {
                errors.Add(new(at + ".src", "expected length <= 255", icon.Src));
            }
            else
            {
                ValidateHttpsUrl(at + ".src", icon.Src, "icon src", errors);
            }

            if (icon.MimeType is not null && !IconMimeTypes.Contains(icon.MimeType))
            {
                errors.Add(new(at + ".mimeType", $"expected value to be one of \"{string.Join(", ", IconMimeTypes)}\"", icon.MimeType));
            }

            for (var s = 0; s < (icon.Sizes?.Count ?? 0); s++)
            {
                if (icon.Sizes![s] is null)
                {
                    errors.Add(new($"{at}.sizes[{s}]", "expected string, got null"));
                }
                else if (!IconSize().IsMatch(icon.Sizes[s]))
                {
                    errors.Add(new($"{at}.sizes[{s}]", @"expected string to match pattern ^(\d+x\d+|any)$", icon.Sizes[s]));
                }
            }

            if (icon.Theme is not null and not ("light" or "dark"))
            {
                errors.Add(new(at + ".theme", "expected value to be one of \"light, dark\"", icon.Theme));
            }
        }
    }

    private static void ValidatePackage(string at, Package package, List<FieldError> errors)
    {
        if (string.IsNullOrEmpty(package.RegistryType))
        {
            errors.Add(new(at + ".registryType", "expected required property registryType to be present"));
        }

        if (string.IsNullOrEmpty(package.Identifier))
        {
            errors.Add(new(at + ".identifier", "expected required property identifier to be present"));
        }
        else if (package.Identifier.Contains(' ', StringComparison.Ordinal))
        {
            errors.Add(new(at + ".identifier", "package name cannot contain spaces", package.Identifier));
        }

        ValidateVersion(at + ".version", package.Version, required: false, errors);
        if (package.RegistryBaseUrl is not null && !Uri.TryCreate(package.RegistryBaseUrl, UriKind.Absolute, out _))
        {
            errors.Add(new(at + ".registryBaseUrl", $"expected string to be RFC 3986 uri: {package.RegistryBaseUrl}", package.RegistryBaseUrl));
        }

        if (package.FileSha256 is not null && !Sha256().IsMatch(package.FileSha256))
        {
            errors.Add(new(at + ".fileSha256", "expected string to match pattern ^[a-f0-9]{64}$", package.FileSha256));
        }

        ValidateArguments(at + ".runtimeArguments", package.RuntimeArguments, errors);
        ValidateArguments(at + ".packageArguments", package.PackageArguments, errors);
        for (var i = 0; i < (package.EnvironmentVariables?.Count ?? 0); i++)
        {
            if (Present($"{at}.environmentVariables[{i}]", package.EnvironmentVariables![i], errors) is { } variable && string.IsNullOrEmpty(variable.Name))
            {
                errors.Add(new($"{at}.environmentVariables[{i}]", "expected required property name to be present"));
            }
        }

        var transport = package.Transport;
        if (transport is null || string.IsNullOrEmpty(transport.Type))
        {
            errors.Add(new(at + ".transport", "expected required property type to be present"));
            return;
        }

        switch (transport.Type)
        {
            case "stdio" when !string.IsNullOrEmpty(transport.Url):
                errors.Add(new(at + ".transport.url", $"url must be empty for stdio transport type, got: {transport.Url}", transport.Url));
                break;
            case "stdio":
                break;
            case "streamable-http" or "sse" when string.IsNullOrEmpty(transport.Url):
                errors.Add(new(at + ".transport.url", $"url is required for {transport.Type} transport type"));
                break;
            case "streamable-http" or "sse" when transport.Url?.Length > MaxUrlLength:
                errors.Add(new(at + ".transport.url", $"expected length <= {MaxUrlLength}"));
                break;
            case "streamable-http" or "sse":
                var known = PackageVariables(package);
                var unknown = TemplateVariables(transport.Url!).Where(v => !known.Contains(v)).ToList();
                if (unknown.Count > 0)
                {
                    errors.Add(new(at + ".transport.url", $"invalid package transport URL: template variables in URL {transport.Url} reference undefined variables. Available variables: [{string.Join(" ", known)}]", transport.Url));
                }
                else if (!IsHttpUrl(SubstituteTemplates(transport.Url!), out _))
                {
                    errors.Add(new(at + ".transport.url", $"invalid package transport URL: {transport.Url}", transport.Url));
                }

                break;
            default:
                errors.Add(new(at + ".transport.type", $"unsupported transport type: {transport.Type}", transport.Type));
                break;
        }
    }

    private static void ValidateArguments(string at, List<Argument>? arguments, List<FieldError> errors)
    {
        for (var i = 0; i < (arguments?.Count ?? 0); i++)
        {
            var here = $"{at}[{i}]";
            if (Present(here, arguments![i], errors) is not { } arg)
            {
                continue;
            }

            if (arg.Type is not ("positional" or "named"))
            {
                errors.Add(new(here + ".type", "expected value to be one of \"positional, named\"", arg.Type));
            }
            else if (arg.Type == "named")
            {
                if (string.IsNullOrEmpty(arg.Name))
                {
                    errors.Add(new(here + ".name", "named argument name is required"));
                }
                else if (arg.Name.IndexOfAny(['<', '>', ' ', '$']) >= 0)
                {
                    errors.Add(new(here + ".name", $"invalid named argument name format: {arg.Name}", arg.Name));
                }
                else if (arg.Value?.StartsWith(arg.Name, StringComparison.Ordinal) == true)
                {
                    errors.Add(new(here + ".value", $"argument value cannot start with the argument name: value starts with argument name '{arg.Name}': {arg.Value}", arg.Value));
                }
            }
            else if (string.IsNullOrEmpty(arg.ValueHint) && arg.Value is null)
            {
                errors.Add(new(here, "a positional argument needs a valueHint or a value"));
            }

            if (arg.Format is not null && !InputFormats.Contains(arg.Format))
            {
                errors.Add(new(here + ".format", "expected value to be one of \"string, number, boolean, filepath\"", arg.Format));
            }
        }
    }

    private static void ValidateRemote(string at, Transport remote, bool allowNonPublic, List<FieldError> errors)
    {
        if (remote.Type is not ("streamable-http" or "sse"))
        {
            errors.Add(new(at + ".type", $"unsupported transport type for remotes: {remote.Type} (only streamable-http and sse are supported)", remote.Type));
            return;
        }

        if (string.IsNullOrEmpty(remote.Url))
        {
            errors.Add(new(at + ".url", $"url is required for {remote.Type} transport type"));
            return;
        }

        if (remote.Url.Length > MaxUrlLength)
        {
            errors.Add(new(at + ".url", $"expected length <= {MaxUrlLength}"));
            return;
        }

        var known = remote.Variables?.Keys.ToHashSet() ?? [];
        var unknown = TemplateVariables(remote.Url).Where(v => !known.Contains(v)).ToList();
        if (unknown.Count > 0)
        {
            errors.Add(new(at + ".url", $"invalid remote URL: template variables in URL {remote.Url} reference undefined variables. Available variables: [{string.Join(" ", known)}]", remote.Url));
            return;
        }

        if (!IsHttpUrl(SubstituteTemplates(remote.Url), out var uri))
        {
            errors.Add(new(at + ".url", $"invalid remote URL: {remote.Url} (must be an absolute http or https URL)", remote.Url));
        }
        else if (!allowNonPublic && NetworkAddresses.IsNonPublicHost(uri!.Host))
        {
            errors.Add(new(at + ".url", $"invalid remote URL: {remote.Url} (loopback, private and link-local hosts are not allowed)", remote.Url));
        }
    }

    private static void ValidatePublisherMeta(Dictionary<string, JsonElement>? meta, List<FieldError> errors)
    {
        if (meta is null || !meta.TryGetValue(ServerJsonSerializer.PublisherProvidedKey, out var provided))
        {
            return;
        }

        const string at = "body._meta.io.modelcontextprotocol.registry/publisher-provided";
        if (provided.ValueKind != JsonValueKind.Object)
        {
            errors.Add(new(at, "expected object"));
            return;
        }

        // Measured as compact UTF-8 JSON (non-ASCII text is not \u-escaped), like the official registry.
        string compact;
        try
        {
            compact = JsonSerializer.Serialize(provided, ServerJsonSerializer.Options);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // A lone surrogate (\ud800) parses but cannot be written back as JSON text.
            errors.Add(new(at, "contains a string that is not valid Unicode (an unpaired surrogate)"));
            return;
        }

        var size = Encoding.UTF8.GetByteCount(compact);
        if (size > MaxPublisherMetaBytes)
        {
            errors.Add(new(at, $"_meta.io.modelcontextprotocol.registry/publisher-provided extension exceeds 4KB limit ({size} bytes)"));
        }
    }

    private static HashSet<string> PackageVariables(Package package)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var arg in (package.RuntimeArguments ?? []).Concat(package.PackageArguments ?? []).Concat(package.EnvironmentVariables ?? []))
        {
            if (!string.IsNullOrEmpty(arg.Name))
            {
                names.Add(arg.Name.TrimStart('-'));
                names.Add(arg.Name);
            }

            if (!string.IsNullOrEmpty(arg.ValueHint))
            {
                names.Add(arg.ValueHint);
            }
        }

        return names;
    }

    private static IEnumerable<string> TemplateVariables(string url) =>
        TemplateVariable().Matches(url).Select(m => m.Groups[1].Value);

    [GeneratedRegex(@":\{[^}]+\}")]
    private static partial Regex PortVariable();

    // Variables are replaced by sample values so the URL's shape can be checked; any variable in the
    // port position stands for a port.
    private static string SubstituteTemplates(string url) =>
        TemplateVariable().Replace(PortVariable().Replace(url, ":8080"), m => m.Groups[1].Value switch
        {
            "host" => "example.com",
            "port" => "8080",
            "path" => "api",
            "protocol" or "scheme" => "http",
            _ => "placeholder",
        });

    private static bool IsHttpUrl(string url, out Uri? uri) =>
        Uri.TryCreate(url, UriKind.Absolute, out uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps) && uri.Host.Length > 0;
}
