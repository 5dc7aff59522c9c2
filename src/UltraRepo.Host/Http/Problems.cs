using Microsoft.AspNetCore.Http.HttpResults;
using UltraRepo.Domain.Common;

namespace UltraRepo.Http;

/// <summary>problem+json results shaped like the official registry's errors: <c>errors[{message, location, value}]</c>.</summary>
public static class Problems
{
    public static ProblemHttpResult Validation(IReadOnlyCollection<FieldError> errors, string? detail = null) =>
        Create(StatusCodes.Status400BadRequest, "Bad Request", detail ?? DescribeFirst(errors), errors);

    public static ProblemHttpResult Validation(string location, string message, object? value = null) =>
        Validation([new FieldError(location, message, value)]);

    public static ProblemHttpResult Conflict(string detail, string? location = null) =>
        Create(StatusCodes.Status409Conflict, "Conflict", detail, location is null ? [] : [new FieldError(location, detail)]);

    public static ProblemHttpResult Forbidden(string detail) =>
        Create(StatusCodes.Status403Forbidden, "Forbidden", detail, []);

    public static ProblemHttpResult NotFound(string detail) =>
        Create(StatusCodes.Status404NotFound, "Not Found", detail, []);

    public static ProblemHttpResult Unauthorized(string detail) =>
        Create(StatusCodes.Status401Unauthorized, "Unauthorized", detail, []);

    public static ProblemHttpResult TooManyRequests(string detail) =>
        Create(StatusCodes.Status429TooManyRequests, "Too Many Requests", detail, []);

    public static ProblemHttpResult Create(int status, string title, string detail, IReadOnlyCollection<FieldError> errors)
    {
        var extensions = new Dictionary<string, object?>();
        if (errors.Count > 0)
        {
            extensions["errors"] = errors.Select(e => new ErrorDetail(e.Message, e.Location, e.Value)).ToArray();
        }

        return TypedResults.Problem(detail: detail, statusCode: status, title: title, extensions: extensions);
    }

    private static string DescribeFirst(IReadOnlyCollection<FieldError> errors) => errors.Count switch
    {
        0 => "validation failed",
        1 => $"{errors.First().Location}: {errors.First().Message}",
        _ => $"{errors.Count} validation errors; first: {errors.First().Location}: {errors.First().Message}",
    };

    public sealed record ErrorDetail(string Message, string Location, object? Value);
}
