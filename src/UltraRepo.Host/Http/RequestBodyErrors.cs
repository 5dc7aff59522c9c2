using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Diagnostics;
using UltraRepo.Domain.Common;

namespace UltraRepo.Http;

/// <summary>
/// Turns unreadable requests (malformed JSON, wrong JSON types, unparsable query values, oversized
/// bodies) into problem+json naming the offending field, instead of an empty 400 or a 500.
/// </summary>
public sealed partial class RequestBodyErrors : IExceptionHandler
{
    [GeneratedRegex("parameter \"(?<type>[^\"]+) (?<name>[^\"]+)\" from \"(?<value>[^\"]*)\"")]
    private static partial Regex ParameterBinding();

    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not BadHttpRequestException bad)
        {
            return false;
        }

        FieldError error = bad.InnerException switch
        {
            JsonException json => new(Location(json.Path), Describe(json)),
            _ when ParameterBinding().Match(bad.Message) is { Success: true } m =>
                new($"{(httpContext.Features.Get<IExceptionHandlerFeature>()?.RouteValues?.ContainsKey(m.Groups["name"].Value) == true ? "path" : "query")}.{m.Groups["name"].Value}",
                    $"expected a value of type {m.Groups["type"].Value}", m.Groups["value"].Value),
            // Minimal APIs word a missing body for developers ("Implicit body inferred for parameter … Did you mean to use a
            // Service instead?"); the client only needs to know one is required.
            _ when bad.Message.Contains("no body was provided", StringComparison.Ordinal) => new("body", "a JSON body is required"),
            _ => new("body", bad.Message),
        };
        var title = bad.StatusCode switch
        {
            StatusCodes.Status413PayloadTooLarge => "Payload Too Large",
            StatusCodes.Status415UnsupportedMediaType => "Unsupported Media Type",
            _ => "Bad Request",
        };
        await Problems.Create(bad.StatusCode, title, $"{error.Location}: {error.Message}", [error]).ExecuteAsync(httpContext);
        return true;
    }

    /// <summary>A short reason without the serializer's internals: "expected an integer", or the parser's complaint.</summary>
    public static string Describe(JsonException exception)
    {
        var match = ConversionTarget().Match(exception.Message);
        if (!match.Success)
        {
            var message = exception.Message;
            var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
            return "malformed JSON: " + (cut > 0 ? message[..cut] : message);
        }

        // A record bound through its constructor names itself, not the member whose value did not fit: look it up.
        var type = MemberType(match.Groups["type"].Value, exception.Path) ?? match.Groups["type"].Value;
        return type switch
        {
            _ when type.Contains("Dictionary", StringComparison.Ordinal) => "expected an object",
            _ when type.Contains("List", StringComparison.Ordinal) || type.Contains("[]", StringComparison.Ordinal) => "expected an array",
            _ when type.Contains("Int64", StringComparison.Ordinal) || type.Contains("Int32", StringComparison.Ordinal) => "expected an integer",
            _ when type.Contains("Decimal", StringComparison.Ordinal) || type.Contains("Double", StringComparison.Ordinal) => "expected a number",
            _ when type.Contains("Boolean", StringComparison.Ordinal) => "expected true or false",
            _ when type.Contains("String", StringComparison.Ordinal) => "expected a string",
            _ when type.Contains("DateTime", StringComparison.Ordinal) => "expected an RFC 3339 timestamp",
            _ => "expected an object",
        };
    }

    /// <summary>
    /// The type of the member the path ends at (<c>$.budgets[0].amount</c> → <c>amount</c>) when <paramref name="typeName"/>
    /// is one of this application's types that has it; null otherwise.
    /// </summary>
    private static string? MemberType(string typeName, string? path)
    {
        var member = path?[(path.LastIndexOf('.') + 1)..];
        if (string.IsNullOrEmpty(member) || member.Contains('[', StringComparison.Ordinal) || typeof(RequestBodyErrors).Assembly.GetType(typeName) is not { } owner)
        {
            return null;
        }

        var property = owner.GetProperty(member, System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.IgnoreCase);
        return property is null ? null : (Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType).ToString();
    }

    [GeneratedRegex("could not be converted to (?<type>[^.]+(\\.[^ .]+)*)")]
    private static partial Regex ConversionTarget();

    /// <summary>Maps a System.Text.Json path (<c>$.tiers[0].upTo</c>) to a location (<c>body.tiers[0].upTo</c>).</summary>
    public static string Location(string? jsonPath) =>
        string.IsNullOrEmpty(jsonPath) || jsonPath == "$" ? "body" : "body" + jsonPath[1..];
}
