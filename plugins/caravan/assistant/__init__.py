"""Marketing Jarvis: `caravan ask` over the marts, the docs and the issue tracker."""
