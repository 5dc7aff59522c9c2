using System.Data.Common;
using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace UltraRepo.UsageBench.Infrastructure;

/// <summary>One database command EF Core executed, with its duration and parameter values.</summary>
public sealed record RecordedCommand(string Sql, TimeSpan Duration, IReadOnlyList<(string Name, object? Value)> Parameters);

/// <summary>
/// Records the commands EF Core executes in this process while switched on, from its DiagnosticListener
/// (<c>Microsoft.EntityFrameworkCore</c>), without touching the host: where a request or an operation spends
/// its database time, and the exact SQL to EXPLAIN.
/// </summary>
public sealed class SqlRecorder : IObserver<DiagnosticListener>, IObserver<KeyValuePair<string, object?>>, IDisposable
{
    private readonly List<IDisposable> _subscriptions = [];
    private readonly List<RecordedCommand> _commands = [];
    private readonly IDisposable _all;
    private volatile bool _on;

    public SqlRecorder() => _all = DiagnosticListener.AllListeners.Subscribe(this);

    public void Start()
    {
        lock (_commands)
        {
            _commands.Clear();
        }

        _on = true;
    }

    public List<RecordedCommand> Stop()
    {
        _on = false;
        lock (_commands)
        {
            return [.. _commands];
        }
    }

    public void OnNext(DiagnosticListener listener)
    {
        if (listener.Name == DbLoggerCategory.Name)
        {
            lock (_subscriptions)
            {
                _subscriptions.Add(listener.Subscribe(this, name => name == RelationalEventId.CommandExecuted.Name));
            }
        }
    }

    public void OnNext(KeyValuePair<string, object?> value)
    {
        if (!_on || value.Value is not CommandExecutedEventData executed)
        {
            return;
        }

        var parameters = executed.Command.Parameters.Cast<DbParameter>().Select(p => (p.ParameterName, (object?)p.Value)).ToList();
        lock (_commands)
        {
            _commands.Add(new RecordedCommand(executed.Command.CommandText, executed.Duration, parameters));
        }
    }

    public void OnCompleted()
    {
    }

    public void OnError(Exception error)
    {
    }

    public void Dispose()
    {
        _all.Dispose();
        lock (_subscriptions)
        {
            foreach (var subscription in _subscriptions)
            {
                subscription.Dispose();
            }
        }
    }
}
