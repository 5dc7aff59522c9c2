namespace UltraRepo.Domain.Common;

/// <summary>
/// One validation failure, located the way the official registry reports them
/// (<c>body.description</c>, <c>body.packages[0].version</c>).
/// </summary>
public sealed record FieldError(string Location, string Message, object? Value = null);
