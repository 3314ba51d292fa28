# Not built on the development machines (no Docker engine there); provided for deployments.
FROM python:3.12-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY iven_gql iven_gql
COPY schema schema
COPY resolvers resolvers
COPY stores stores
RUN pip install --no-cache-dir . && mkdir -p /app/uploads /app/var
EXPOSE 8000
CMD ["sh", "-c", "iven-gql migrate && iven-gql serve --host 0.0.0.0 --port 8000 --workers 2"]
