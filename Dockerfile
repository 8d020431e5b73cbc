# Kefu in one image: the bot (`kefu serve`) and the rasa-sdk action server run from it.
# Build: docker build -t kefu .   (docker-compose.yml builds it for you)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The CPU build of torch first, from PyTorch's CPU index: the default PyPI wheel drags in
# gigabytes of CUDA libraries. Its own layer, so code changes do not download it again.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

# Then the project; torch==2.13.0 is already satisfied by the CPU build above.
COPY . .
RUN pip install .

# Run as an unprivileged user. models/ (trained bots) and var/ (SQLite files) are volume
# mount points: created here and owned by that user, so fresh named volumes inherit it.
RUN useradd --create-home --uid 10001 kefu \
    && mkdir -p /app/models /app/var \
    && chown kefu:kefu /app/models /app/var
USER kefu

EXPOSE 8000 5055
CMD ["kefu", "serve", "--host", "0.0.0.0", "--port", "8000"]
